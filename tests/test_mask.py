"""Masking of names, phones and finding subjects (ID masking is tested in test_idcard)."""

from __future__ import annotations

import pandas as pd

from cardaudit.mask import mask_names, mask_phones, mask_subjects


def test_names_keep_first_and_last_character() -> None:
    names = pd.Series(["张三丰", "张三", "张", "欧阳娜娜", None, " 李四 ", ""], dtype="str")
    assert mask_names(names).tolist() == ["张*丰", "张*", "*", "欧**娜", "", "李*", ""]


def test_phones_keep_three_and_four_digits() -> None:
    phones = pd.Series(["13912340001", "139 1234 0001", "1234", None], dtype="str")
    assert mask_phones(phones).tolist() == ["139****0001", "139****0001", "*4", ""]


def test_subjects_mask_ids_and_phones_but_not_customer_numbers() -> None:
    subjects = pd.Series(["C:123", "430522199001011235", "13912340001", None], dtype="str")
    kinds = pd.Series(["person", "person", "phone", "person"])
    assert mask_subjects(subjects, kinds).tolist() == [
        "C:123", "4305**********1235", "139****0001", ""]


def test_masking_keeps_the_index_and_never_realigns_by_it() -> None:
    names = pd.Series(["张三丰", "李四"], index=[10, 20], dtype="str")
    assert mask_names(names).index.tolist() == [10, 20]
    assert mask_names(names).tolist() == ["张*丰", "李*"]
    phones = pd.Series(["13912340001", "1234"], index=[7, 3], dtype="str")
    assert mask_phones(phones).tolist() == ["139****0001", "*4"]
    subjects = pd.Series(["13912340001", "430522199001011235", "C:9"], index=[9, 4, 1],
                         dtype="str")
    kinds = pd.Series(["phone", "person", "person"], index=[9, 4, 1])
    assert mask_subjects(subjects, kinds).tolist() == ["139****0001", "4305**********1235",
                                                       "C:9"]


def test_masking_each_distinct_value_once_gives_every_row_its_mask() -> None:
    """Repeated, missing and empty values, in any order: the same texts as masking row by row."""
    from cardaudit.mask import mask_ids, mask_names, masked_once

    names = pd.Series(["张三丰", None, "欧阳娜娜", "张三丰", "", "李", "欧阳娜娜", None, "王五"],
                      dtype="str")
    ids = pd.Series(["430522199001011234", None, "", "430522199001011234", "12345",
                     "11010519491231002X", None, "430522199001011234", "x"], dtype="str",
                    index=range(10, 19))
    for mask, values in ((mask_names, names), (mask_ids, ids)):
        once = masked_once(mask, values)
        assert once.tolist() == mask(values).tolist()
        assert once.index.equals(values.index) and once.dtype == "str"
    assert masked_once(mask_names, names).tolist()[:4] == ["张*丰", "", "欧**娜", "张*丰"]
