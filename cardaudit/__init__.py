"""cardaudit: 断卡 self-inspection audit of debit-card exports."""

__version__ = "0.1.0"
