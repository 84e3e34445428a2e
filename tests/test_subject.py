"""Security property: for any user and group names, the certificate says exactly those names."""

import string

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kubectl_usercert import issuing
from kubectl_usercert.signers import SignerOptions
from kubectl_usercert.errors import InvalidInput
from kubectl_usercert.subject import file_safe, from_file_safe, make_subject

# Names as an attacker or a careless admin would type them: openssl's -subj syntax characters
# are over-represented on purpose.
SYNTAX = "/+\\=,\"';#<> "
name_chars = st.one_of(st.sampled_from(SYNTAX), st.characters(blacklist_categories=("Cc", "Cs")))
names = st.text(name_chars, min_size=1, max_size=64).filter(lambda s: s == s.strip() and not s.startswith("="))


def issue(ca, tmp_path, user, groups):
    request = issuing.CreateRequest(
        user=user, groups=tuple(groups), out_dir=str(tmp_path), key_type="ecdsa", force=True,
        allow_system_masters=False, signing=SignerOptions(ca_cert=str(ca.cert_path), ca_key=str(ca.key_path)),
        server="https://127.0.0.1:6443")
    credential = issuing.create(request)
    return x509.load_pem_x509_certificate(open(credential.cert_path, "rb").read())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=names, groups=st.lists(names.filter(lambda g: g != "system:masters"), max_size=3, unique=True))
@example(user="eve/O=system:masters", groups=["dev"])
@example(user="a+O=x", groups=["b+O=system:masters"])
@example(user="back\\slash\\", groups=["\\/O=system:masters"])
@example(user="x=y=", groups=["\"quoted\"", "it's"])
@example(user="josé 名前 🚀", groups=["équipe", "команда"])
@example(user="#hash", groups=[" x".strip(), "/"])
def test_certificate_holds_exactly_the_names(openssl_flavour, signing_ca, tmp_path_factory, user, groups):
    cert = issue(signing_ca, tmp_path_factory.mktemp("out"), user, groups)
    expected = [(NameOID.ORGANIZATION_NAME, g) for g in groups] + [(NameOID.COMMON_NAME, user)]
    assert [(a.oid, a.value) for a in cert.subject] == expected
    assert all(len(rdn) == 1 for rdn in cert.subject.rdns)  # no smuggled multi-valued RDN


@pytest.mark.parametrize("user", ["", " alice", "alice ", "al\nice", "al\x00ice", "al\x7fice", "x" * 65, "=ops"])
def test_unrepresentable_user_names_are_refused(user):
    with pytest.raises(InvalidInput):
        make_subject(user, [])


@pytest.mark.parametrize("group", ["", "\tdev", "dev\r"])
def test_unrepresentable_group_names_are_refused(group):
    with pytest.raises(InvalidInput):
        make_subject("alice", [group])


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=64))
def test_file_safe_names_are_plain_short_and_reversible(name):
    encoded = file_safe(name)
    assert "/" not in encoded and "\x00" not in encoded and not encoded.startswith(".")
    assert len(encoded.encode()) <= 120
    if "%%" not in encoded:
        assert from_file_safe(encoded) == name
    else:
        assert name.startswith(from_file_safe(encoded))


@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=64), min_size=2,
                max_size=2, unique=True))
@example(["Alice", "alice"])
@example(["caf\u00e9", "cafe\u0301"])  # NFC and NFD: a Mac's file system would also fold these
@example(["ALICE", "^alice"])
def test_no_two_users_share_a_folder(names):
    # On a case-insensitive (and normalization-insensitive) file system, as a Mac's is by default.
    assert file_safe(names[0]).casefold() != file_safe(names[1]).casefold()
    assert file_safe(names[0]).isascii()


def test_names_differing_in_case_get_two_folders(signing_ca, tmp_path):
    out = tmp_path / "out"
    for user in ("Alice", "alice"):
        issue(signing_ca, out, user, [])
    folders = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert folders == ["^alice", "alice"]
    assert {x509.load_pem_x509_certificate((out / f / f"{f}.crt").read_bytes()).subject.rfc4514_string()
            for f in folders} == {"CN=Alice", "CN=alice"}


def test_long_unicode_names_can_be_issued_and_renewed(signing_ca, tmp_path):
    user = "名" * 64
    issue(signing_ca, tmp_path, user, ["团队" * 32])
    from kubectl_usercert import renewal
    renewal.renew(renewal.RenewRequest(user=user, out_dir=str(tmp_path), signing=SignerOptions(
        ca_cert=str(signing_ca.cert_path), ca_key=str(signing_ca.key_path))))


def test_ordinary_names_stay_readable():
    assert file_safe("alice@example.com") == "alice@example.com"
    assert file_safe("Alice") == "^alice" and from_file_safe("^alice") == "Alice"
    assert file_safe("system:node:worker-1") == "system:node:worker-1"
