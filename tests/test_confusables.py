"""Names that look like what they are not (issue 18, item 8): a group confusable with system:masters
(Unicode's skeleton, UTS #39) is refused as system:masters is; one confusable with another system:
name is warned about; a group holding a comma is shown as one group."""

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from helpers import EC, SERVER, ca_args, ledger_lines, run_here, tree, user_cert
from kubectl_usercert.errors import InvalidInput
from kubectl_usercert.pki import lookalikes
from kubectl_usercert.pki.subject import (
    SYSTEM_MASTERS,
    check_name,
    group_list,
    make_subject,
    subject_warnings,
)

TABLE = json.loads((Path(lookalikes.__file__).parent / lookalikes.TABLE).read_text())["prototypes"]
IMITATORS = {}
for _source, _prototype in TABLE.items():
    IMITATORS.setdefault(_prototype, []).append(_source)


def create(capsys, ca, *args):
    return run_here(capsys, "create", *args, *EC, *ca_args(ca), "--server", SERVER)


def test_a_cyrillic_s_is_refused_as_system_masters_is(capsys, signing_ca, isolated):
    result = create(capsys, signing_ca, "alice", "-g", "\u0455ystem:masters")
    assert result.returncode == 2 and "looks like system:masters" in result.stderr, result.stderr
    assert (
        "U+0455 CYRILLIC SMALL LETTER DZE" in result.stderr
        and "--allow-system-masters" in result.stderr
    )
    assert tree(isolated) == []
    allowed = create(
        capsys, signing_ca, "alice", "-g", "\u0455ystem:masters", "--allow-system-masters"
    )
    assert (
        allowed.returncode == 0
        and "warning: group \u0455ystem:masters looks like system:masters" in allowed.stderr
    )
    assert [a.value for a in user_cert("alice").subject] == ["\u0455ystem:masters", "alice"]


def test_other_system_look_alikes_are_warned_about(capsys, signing_ca, isolated):
    result = create(capsys, signing_ca, "\u0455ystem:node:n1", "-g", "\u0455ystem:nodes")
    assert result.returncode == 0, result.stderr
    assert (
        "warning: user \u0455ystem:node:n1 looks like a name in Kubernetes' system: name space"
        in result.stderr
    )
    assert "warning: group \u0455ystem:nodes looks like a Kubernetes system group" in result.stderr
    assert ledger_lines()[-1]["groups"] == ["\u0455ystem:nodes"]


def test_the_table_maps_only_to_ascii_and_covers_system():
    assert all(len(source) == 1 and prototype.isascii() for source, prototype in TABLE.items())
    assert TABLE["\u0455"] == "s" and TABLE["\u0443"] == "y" and TABLE["\u0435"] == "e"
    for letter in "syte:a":
        assert len(IMITATORS[letter]) >= 3, (
            letter
        )  # each letter of system: can be imitated many ways


def _imitation(draw_choices, word):
    return "".join(
        draw_choices[i] if draw_choices[i] is not None else ch for i, ch in enumerate(word)
    )


@settings(max_examples=300, deadline=None)
@given(st.data())
@example(data=None)
def test_any_imitation_of_system_masters_is_refused(data):
    word = SYSTEM_MASTERS
    if data is None:
        imitation = "\u0455ystem:masters"
    else:
        choices = [
            data.draw(
                st.none() | st.sampled_from(IMITATORS.get(lookalikes.skeleton(ch), [ch])), label=ch
            )
            for ch in word
        ]
        imitation = _imitation(choices, word)
    assume(unicodedata.normalize("NFC", imitation) == imitation)
    try:
        check_name(imitation, "group")
    except InvalidInput:
        return  # refused for what it is made of (invisible, not NFC): refused all the same
    assert lookalikes.confusable(imitation, word)
    with pytest.raises(InvalidInput):
        subject_warnings(make_subject("alice", [imitation]))
    warned = subject_warnings(make_subject("alice", [imitation]), allow_system_masters=True)
    assert len(warned) == 1 and "system:masters" in warned[0]


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=20))
def test_the_skeleton_is_a_fixed_point_and_decides_alone(text):
    assert lookalikes.skeleton(lookalikes.skeleton(text)) == lookalikes.skeleton(text)
    try:
        subject = make_subject("alice", [text])
    except InvalidInput:
        return
    looks = lookalikes.confusable(text, SYSTEM_MASTERS)
    try:
        warnings = subject_warnings(subject)
    except InvalidInput:
        assert looks or text == SYSTEM_MASTERS
        return
    assert not looks
    assert bool(warnings) == lookalikes.looks_prefixed(text, "system:")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8),
        min_size=1,
        max_size=4,
    )
)
def test_a_group_list_is_read_back_as_the_same_groups(groups):
    shown = group_list(groups)
    read = []
    for cell in _split(shown):
        read.append(json.loads(cell) if cell.startswith('"') else cell)
    assert read == groups


def _split(shown):
    """A reader's split of a shown group list: commas outside quotes."""
    cells, current, quoted, escaped = [], "", False, False
    for ch in shown:
        if escaped:
            current, escaped = current + ch, False
        elif ch == "\\" and quoted:
            current, escaped = current + ch, True
        elif ch == '"':
            current, quoted = current + ch, not quoted
        elif ch == "," and not quoted:
            cells, current = cells + [current], ""
        else:
            current += ch
    return cells + [current]


def test_a_group_holding_a_comma_is_shown_as_one_group(capsys, signing_ca, isolated):
    Path("users.csv").write_text('alice,"dev,system:masters"\nbob,dev,ops\n')
    result = run_here(
        capsys, "create", "--from-file", "users.csv", *EC, *ca_args(signing_ca), "--server", SERVER
    )
    assert result.returncode == 0, result.stderr
    assert [a.value for a in user_cert("alice").subject] == ["dev,system:masters", "alice"]
    table = run_here(capsys, "list", "--out-dir", "clients").stdout.splitlines()
    alice = next(line for line in table if line.startswith("alice"))
    bob = next(line for line in table if line.startswith("bob"))
    assert '"dev,system:masters"' in alice.split() and "dev,ops" in bob.split()
    renewed = run_here(capsys, "renew", "alice", *ca_args(signing_ca))
    assert renewed.returncode == 0 and 'groups      "dev,system:masters"' in renewed.stderr, (
        renewed.stderr
    )
