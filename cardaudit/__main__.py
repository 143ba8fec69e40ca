from cardaudit.cli import main

main()
