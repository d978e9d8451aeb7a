from pydantic import BaseModel, ValidationError

from mastra_nb import ErrorKind, MastraError


class Address(BaseModel):
    city: str
    zip: int


class Person(BaseModel):
    name: str
    address: Address


def test_validation_error_names_each_field_path_and_what_was_expected():
    try:
        Person.model_validate({"name": 3, "address": {"city": "Oslo", "zip": "abc"}})
    except ValidationError as exc:
        error = MastraError.from_validation(exc, code="PERSON_INVALID", subject="input of `make_person`")
    assert error.kind is ErrorKind.VALIDATION
    assert error.code == "PERSON_INVALID"
    fields = {item["field"]: item for item in error.details["errors"]}
    assert set(fields) == {"name", "address.zip"}
    assert "valid string" in fields["name"]["expected"]
    assert "valid integer" in fields["address.zip"]["expected"]
    text = str(error)
    assert "`address.zip`" in text and "`name`" in text and "make_person" in text
    assert text.endswith("[PERSON_INVALID]")


def test_error_serializes_to_a_plain_dict():
    error = MastraError("system", "STORAGE_LOCKED", "The file is locked.", details={"path": "x"}, retryable=True)
    assert error.to_dict() == {
        "kind": "system",
        "code": "STORAGE_LOCKED",
        "message": "The file is locked.",
        "details": {"path": "x"},
        "retryable": True,
    }
    assert error.kind is ErrorKind.SYSTEM


def test_unknown_kind_is_refused():
    try:
        MastraError("catastrophe", "X", "y")
    except ValueError as exc:
        assert "catastrophe" in str(exc)
    else:
        raise AssertionError("an unknown kind was accepted")
