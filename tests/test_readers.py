"""The one delimited-table reader and the one token-list reader: what they read, and the exact line each refusal
gives."""

import pytest

from recbole_unlearn.data.readers import Table, read_header, read_table, read_token_list
from recbole_unlearn.errors import InputError


def write(tmp_path, content, name="t.csv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def refusal(call, *args, **kwargs):
    with pytest.raises(InputError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


# ------------------------------------------------------------------------------------------------------ read_table
def test_reads_header_and_stripped_rows(tmp_path):
    table = read_table(write(tmp_path, 'user_id , item_id\n u1 ,"i1, i2"\r\nu2,i3\n\n\n'))
    assert table == Table(str(tmp_path / "t.csv"), ("user_id", "item_id"), [["u1", "i1, i2"], ["u2", "i3"]])
    assert table.column("item_id") == ["i1, i2", "i3"]
    assert Table.line(0) == 2


def test_a_byte_order_mark_is_dropped(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfuser_id\nu1\n")
    assert read_table(path).header == ("user_id",)
    assert read_table(path).rows == [["u1"]]
    assert read_header(path) == ("user_id",)


def test_literal_reading_keeps_quote_marks(tmp_path):
    path = write(tmp_path, 'id\ttext\n1\t"Heroes" and "Villains\n', "t.tsv")
    assert read_table(path, "\t", literal=True).rows == [["1", '"Heroes" and "Villains']]


def test_a_column_named_twice_is_refused(tmp_path):
    path = write(tmp_path, "user_id,user_id\nu1,u2\n", "dup.csv")
    assert refusal(read_table, path, source="forget_file dup.csv") == (
        "forget_file dup.csv: the header names column 'user_id' twice"
    )


def test_a_row_with_the_wrong_field_count_names_its_line(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3,4\n5\n")
    assert refusal(read_table, path) == f"{path}: line 4 has 1 fields, the header has 2"
    path = write(tmp_path, "a\tb\n1\t2\t3\n", "t.tsv")
    assert refusal(read_table, path, "\t", literal=True) == f"{path}: line 2 has 3 fields, the header has 2"


def test_empty_and_missing_files(tmp_path):
    for content in ("", "\n \n\n", "\ufeff"):
        path = write(tmp_path, content)
        assert refusal(read_table, path) == f"{path}: empty file, expected a header line"
    assert read_header(write(tmp_path, "")) == ()
    absent = tmp_path / "absent.csv"
    assert refusal(read_table, absent, source="forget_file absent.csv") == "forget_file absent.csv: no such file"
    assert refusal(read_header, absent) == f"{absent}: no such file"
    assert refusal(read_table, tmp_path) == f"{tmp_path}: a folder, not a file"


def test_undecodable_text(tmp_path):
    path = write(tmp_path, b"user_id\nu\xff\n" + b"u\n" * 10000 + b"\xe9\n")
    assert refusal(read_table, path) == f"{path}: not utf-8 text (invalid start byte at byte 9)"
    path = write(tmp_path, b"user_id\n" + b"u\n" * 10000 + b"\xe9\n")
    assert refusal(read_table, path) == f"{path}: not utf-8 text (invalid continuation byte at byte 20008)"


def test_blank_lines_only_at_the_end(tmp_path):
    path = write(tmp_path, "a\n1\n\n2\n")
    assert refusal(read_table, path) == f"{path}: line 3 is blank"
    path = write(tmp_path, "\na\n1\n")
    assert refusal(read_table, path) == f"{path}: line 1 is blank, expected the header"


def test_fields_never_run_over_a_line_break(tmp_path):
    path = write(tmp_path, 'a,b\n1,"two\nlines"\n3,4\n')
    assert refusal(read_table, path) == f"{path}: line 2 has a quoted field that runs over the end of the line"
    path = write(tmp_path, 'a,b\n1,"open\n')
    assert refusal(read_table, path) == f"{path}: line 2 is not valid CSV (unexpected end of data)"


def test_columns_found_by_name_or_without_their_recbole_type(tmp_path):
    table = read_table(write(tmp_path, "item_id:token\ttitle:token_seq\nx\tX\n", "t.tsv"), "\t", literal=True)
    assert table.index("item_id") == 0 and table.index("title:token_seq") == 1
    assert refusal(table.index, "year") == (
        f"{tmp_path / 't.tsv'}: no column 'year' (columns: item_id:token, title:token_seq)"
    )


# ------------------------------------------------------------------------------------------------- read_token_list
def test_token_list_line_k_plus_2_is_row_k(tmp_path):
    assert read_token_list(write(tmp_path, "\ufeffitem_id\n3\n1\n2\n\n", "o.tsv")) == ["3", "1", "2"]
    assert read_token_list(write(tmp_path, "item_id:token\tx\nb\t0\na\t1\n", "o.tsv"), "item_id") == ["b", "a"]


def test_token_list_refusals_name_the_line(tmp_path):
    path = write(tmp_path, "item_id\tx\nb\t0\n", "o.tsv")
    assert refusal(read_token_list, path) == f"{path}: 2 columns (item_id, x); name the column of tokens"
    assert refusal(read_token_list, path, "token") == f"{path}: no column 'token' (columns: item_id, x)"
    path = write(tmp_path, "item_id\tx\nb\t0\n\t1\n", "o.tsv")
    assert refusal(read_token_list, path, "item_id") == f"{path}: line 3 has no token in column 'item_id'"
    path = write(tmp_path, "item_id\n1\n2\n1\n", "o.tsv")
    assert refusal(read_token_list, path) == f"{path}: token '1' is listed twice (lines 2 and 4)"
    path = write(tmp_path, "item_id\n1\n\n2\n", "o.tsv")
    assert refusal(read_token_list, path) == f"{path}: line 3 is blank"
    path = write(tmp_path, "item_id\n1\t2\n", "o.tsv")
    assert refusal(read_token_list, path) == f"{path}: line 2 has 2 fields, the header has 1"
    path = write(tmp_path, "item_id\titem_id\n1\t2\n", "o.tsv")
    assert refusal(read_token_list, path) == f"{path}: the header names column 'item_id' twice"
