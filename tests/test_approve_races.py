"""`approve` against a person who races it, end to end (test API server, real kubectl): what a
hostile person with the right to self-renew can do between approve's steps."""

from conftest import default_kubectl
from helpers import cli_json, ledger_lines
from kubectl_usercert.pki.signers.cluster_csr import self_renewal_name
from test_approve import file_as, issue, manifest, request_pem, signing  # noqa: F401


def test_a_renewal_taken_and_withdrawn_before_approve_watches_is_still_recorded(
    signing,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    """bob takes his new certificate and deletes the request the moment it is issued, before
    approve's watch for issued certificates starts: unrecorded, his old certificate would stay the
    newest the ledger knows (free to renew again) and whois would not know the new one."""
    cluster = signing
    bob = issue(cluster, "bob", "dev")
    name = self_renewal_name("bob")
    file_as(cluster, bob, manifest(name, request_pem("bob", ["dev"])))
    real = default_kubectl()
    wrapper = tmp_path / "kubectl"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" replace "*)\n'
        f'  "{real}" "$@"; code=$?\n'
        "  for _ in $(seq 100); do\n"
        f'    "{real}" --kubeconfig "{bob}" get csr {name} -o jsonpath=\'{{.status.certificate}}\''
        " </dev/null | grep -q . && break\n"
        "    sleep 0.05\n"
        "  done\n"
        f'  "{real}" --kubeconfig "{bob}" delete csr {name} </dev/null >/dev/null\n'
        "  exit $code ;;\n"
        "esac\n"
        f'exec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("USERCERT_KUBECTL", str(wrapper))
    answer = cli_json("approve")
    assert [r["action"] for r in answer["status"]["requests"]] == ["approve"]
    [recorded] = answer["status"]["recorded"]
    assert recorded["user"] == "bob" and not answer["status"]["warnings"]
    assert [e["event"] for e in ledger_lines() if e["user"] == "bob"] == ["issued", "renewed"]
