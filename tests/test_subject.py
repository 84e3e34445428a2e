"""Security property: for any user and group names, the certificate says exactly those names."""

import unicodedata

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers import SERVER
from kubectl_usercert.commands.create import CreateRequest, create
from kubectl_usercert.commands.renew import RenewRequest, renew
from kubectl_usercert.errors import InvalidInput
from kubectl_usercert.pki.keys import KeySpec
from kubectl_usercert.pki.signers import SignerOptions
from kubectl_usercert.pki.subject import make_subject
from kubectl_usercert.store.layout import file_safe, from_file_safe

# Names as an attacker or a careless admin would type them: openssl's -subj syntax characters
# are over-represented on purpose. Invisible characters and other spellings are refused (tested
# below), so the names that can be issued are those without them.
SYNTAX = "/+\\=,\"';#<> "
INVISIBLE = ("Cc", "Cs", "Cf", "Co", "Cn", "Zl", "Zp", "Zs")
name_chars = st.one_of(
    st.sampled_from(SYNTAX),
    st.characters(
        blacklist_categories=INVISIBLE, blacklist_characters="\u115f\u1160\u3164\uffa0\u2800"
    ),
)
names = st.text(name_chars, min_size=1, max_size=64).filter(
    lambda s: s == s.strip() and not s.startswith("=") and unicodedata.normalize("NFC", s) == s
)


def signing(ca):
    return SignerOptions(ca_cert=str(ca.cert_path), ca_key=str(ca.key_path))


def issue(ca, tmp_path, user, groups):
    request = CreateRequest(
        user=user,
        groups=tuple(groups),
        out_dir=str(tmp_path),
        key=KeySpec("ecdsa"),
        force=True,
        signing=signing(ca),
        server=SERVER,
    )
    credential = create(request).credential
    return x509.load_pem_x509_certificate(open(credential.certificate, "rb").read())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    user=names,
    groups=st.lists(names.filter(lambda g: g != "system:masters"), max_size=3, unique=True),
)
@example(user="eve/O=system:masters", groups=["dev"])
@example(user="a+O=x", groups=["b+O=system:masters"])
@example(user="back\\slash\\", groups=["\\/O=system:masters"])
@example(user="x=y=", groups=['"quoted"', "it's"])
@example(user="josé 名前 🚀", groups=["équipe", "команда"])
@example(user="#hash", groups=[" x".strip(), "/"])
# Names past X.509's suggested 64 characters are kept whole (Kubernetes reads them so); the oracle
# only warns about them.
@pytest.mark.filterwarnings("ignore:Attribute's length must be")
def test_certificate_holds_exactly_the_names(
    openssl_flavour, signing_ca, tmp_path_factory, user, groups
):
    cert = issue(signing_ca, tmp_path_factory.mktemp("out"), user, groups)
    expected = [(NameOID.ORGANIZATION_NAME, g) for g in groups] + [(NameOID.COMMON_NAME, user)]
    assert [(a.oid, a.value) for a in cert.subject] == expected
    assert all(len(rdn) == 1 for rdn in cert.subject.rdns)  # no smuggled multi-valued RDN


@pytest.mark.parametrize(
    "user", ["", " alice", "alice ", "al\nice", "al\x00ice", "al\x7fice", "x" * 65, "=ops"]
)
def test_unrepresentable_user_names_are_refused(user):
    with pytest.raises(InvalidInput):
        make_subject(user, [])


@pytest.mark.parametrize(
    "name",
    [
        "system:masters\u200b",  # zero-width space: looks exactly like system:masters
        "\ufeffalice",  # byte-order mark
        "ali\u202ece",
        "al\u2066ice",
        "al\u200fice",  # bidi controls
        "cafe\u0301",  # NFD: shows as café, another name than NFC's café to Kubernetes
        "alice\u00a0bob",
        "alice\u3000bob",  # spaces that are not U+0020
        "\u3164",
        "a\u2028b",  # a blank letter, a line separator
    ],
)
def test_names_that_look_like_other_names_are_refused(name):
    for user, groups in ((name, []), ("alice", [name])):
        with pytest.raises(InvalidInput):
            make_subject(user, groups)


@settings(max_examples=200)
@given(
    name=names,
    invisible=st.characters(whitelist_categories=("Cf", "Zs", "Zl", "Zp", "Co")),
    at=st.integers(0, 64),
)
def test_an_invisible_character_anywhere_is_refused(name, invisible, at):
    if invisible == " ":
        return
    with pytest.raises(InvalidInput):
        make_subject(name[:at] + invisible + name[at:], [])


def test_system_user_names_warn_as_system_groups_do(signing_ca, isolated):
    from helpers import run_cli

    result = run_cli(
        "create",
        "system:node:n1",
        "--key-type",
        "ecdsa",
        "--ca-cert",
        signing_ca.cert_path,
        "--ca-key",
        signing_ca.key_path,
        "--server",
        SERVER,
    )
    assert result.returncode == 0, result.stderr
    assert "warning: user system:node:n1 is in Kubernetes' system: name space" in result.stderr


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


@given(
    st.lists(
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=64),
        min_size=2,
        max_size=2,
        unique=True,
    )
)
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
    assert {
        x509.load_pem_x509_certificate((out / f / f"{f}.crt").read_bytes()).subject.rfc4514_string()
        for f in folders
    } == {"CN=Alice", "CN=alice"}


def test_long_unicode_names_can_be_issued_and_renewed(signing_ca, tmp_path):
    user = "名" * 64
    issue(signing_ca, tmp_path, user, ["团队" * 32])
    renew(RenewRequest(user=user, out_dir=str(tmp_path), signing=signing(signing_ca)))


def test_ordinary_names_stay_readable():
    assert file_safe("alice@example.com") == "alice@example.com"
    assert file_safe("Alice") == "^alice" and from_file_safe("^alice") == "Alice"
    assert file_safe("system:node:worker-1") == "system:node:worker-1"
