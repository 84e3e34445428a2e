"""The API server's and a proxy's URL as kubectl reads them (Go's net/url, client-go's rules).

client-go's `rest.DefaultServerURL` parses the server with Go's `url.Parse`; a server without a
scheme or a host (`10.0.0.1:6443`, `api.example.com:6443`) is parsed again with a scheme put in
front, and may then carry no path. kubectl (1.27 to 1.33, tried) then speaks plain http to it,
even with a CA and a client certificate, so such a server is refused here, with its https form
as the hint. Go
refuses control characters anywhere, a space or a backslash in the host, an unclosed `[`, a port
that is not digits; its HTTP transport then takes only http and https. clientcmd refuses a
`proxy-url` that Go cannot parse or whose scheme is not http, https or socks5.

One more rule is this tool's own: a URL holding credentials (`https://admin:pw@host`) is refused,
since whatever is in it would be copied into every kubeconfig issued, the ledger and the output.
"""

import re
from typing import NamedTuple, Optional


class ParsedURL(NamedTuple):
    scheme: str
    userinfo: Optional[str]
    host: str  # with the port, as Go's URL.Host
    path: str


class BadURL(ValueError):
    """Why kubectl could not use a URL, in a few words."""


# What Go lets into a host (net/url shouldEscape for encodeHost): letters, digits and these.
_HOST_CHARACTERS = set("-_.~!$&'()*+,;=:[]<>\"")
_USERINFO_CHARACTERS = set("-._:~!$&'()*+,;=%@")
SERVER_SCHEMES = ("http", "https")
PROXY_SCHEMES = ("http", "https", "socks5")


def server_problem(url):
    """What keeps kubectl from using `url` as a cluster's server (None when nothing does)."""
    try:
        parsed = _server_url(_unpadded(url))
    except BadURL as exc:
        return str(exc)
    if parsed.scheme not in SERVER_SCHEMES:
        return f'its scheme is "{parsed.scheme}"; kubectl speaks only https (and http)'
    if _host_problem(parsed) or url.lower().startswith(parsed.scheme + "://"):
        return _host_problem(parsed)
    # client-go's fallback: kubectl 1.27 to 1.33 speak plain http then, so no certificate is ever sent
    return f"it has no scheme, and kubectl would speak plain http to it: write https://{'@' not in url and url or 'HOST:PORT'}"


def proxy_problem(url):
    """What keeps kubectl from taking `url` as a cluster's proxy-url (None when nothing does)."""
    try:
        parsed = parse(_unpadded(url))
    except BadURL as exc:
        return str(exc)
    if parsed.scheme not in PROXY_SCHEMES:
        return f'its scheme is "{parsed.scheme}"; kubectl takes http, https or socks5 proxies'
    return _host_problem(parsed)


def _unpadded(url):
    if url != url.strip(" "):
        raise BadURL("it starts or ends with a space")
    return url


def has_credentials(url, proxy=False):
    """True when the URL carries a user name or password (userinfo), however odd the rest of it is."""
    try:
        parsed = parse(url) if proxy else _server_url(url)
    except BadURL:
        return "@" in url  # unparsable: an @ may still end a password, so it is never shown
    return parsed.userinfo is not None


def _server_url(url):
    """client-go's DefaultServerURL: as given if it has a scheme and a host, else https:// + it."""
    if not url:
        raise BadURL("it is empty")
    try:
        parsed = parse(url)
        if parsed.scheme and parsed.host:
            return parsed
        first = None
    except BadURL as exc:
        first = exc
    try:
        parsed = parse("https://" + url)
    except BadURL:
        raise (
            first if first and "://" in url else BadURL("it is not a URL, nor a host:port pair")
        ) from None
    if parsed.path not in ("", "/"):
        raise first if first and "://" in url else BadURL("it is not a URL, nor a host:port pair")
    return parsed


def parse(url):
    """A port of the parts of Go's url.Parse that decide whether kubectl can use a URL."""
    odd = next((ch for ch in url if ord(ch) < 0x20 or ord(ch) == 0x7F), None)
    if odd is not None:
        raise BadURL(f"it holds a control character (U+{ord(odd):04X})")
    url = url.split("#", 1)[0]
    scheme, rest = _scheme(url)
    rest = rest.split("?", 1)[0]
    if not rest.startswith("/"):
        if scheme:
            return ParsedURL(scheme, None, "", "")  # an opaque URL (mailto:x): no host
        if ":" in rest.split("/", 1)[0]:
            raise BadURL("it has no scheme, and its first part holds a colon")
        return ParsedURL("", None, "", rest)
    if not rest.startswith("//"):
        return ParsedURL(scheme, None, "", rest)
    authority, slash, path = rest[2:].partition("/")
    userinfo, at, host = authority.rpartition("@")
    if at and any(
        not (ch.isascii() and ch.isalnum()) and ch not in _USERINFO_CHARACTERS for ch in userinfo
    ):
        raise BadURL("its user information holds a character a URL cannot")
    _check_host(host)
    if re.search(r"%(?![0-9A-Fa-f]{2})", path):
        raise BadURL("its path holds a % that starts no escape")
    return ParsedURL(scheme, userinfo if at else None, host, slash + path)


def _scheme(url):
    """Go's getScheme: letters, then letters, digits, + - . up to the first colon."""
    for index, ch in enumerate(url):
        if ch.isascii() and ch.isalpha():
            continue
        if ch.isascii() and (ch.isdigit() or ch in "+-."):
            if index == 0:
                return "", url
            continue
        if ch == ":":
            if index == 0:
                raise BadURL("it has no scheme before its colon")
            return url[:index].lower(), url[index + 1 :]
        return "", url
    return "", url


def _check_host(host):
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            raise BadURL("its host opens a [ and never closes it")
        _check_port(host[end + 1 :])
    elif ":" in host:
        _check_port(host[host.rfind(":") :])
    for match in re.finditer(
        r"%([0-9A-Fa-f]{2})?", host
    ):  # only non-ASCII bytes (and %25) may be escaped
        if not match.group(1) or (int(match.group(1), 16) < 0x80 and match.group(1) != "25"):
            raise BadURL("its host holds a % escape a host cannot")
    odd = next(
        (
            ch
            for ch in host
            if ch.isascii() and not ch.isalnum() and ch not in _HOST_CHARACTERS and ch != "%"
        ),
        None,
    )
    if odd is not None:
        raise BadURL(f"its host holds {odd!r}, which a host name cannot")


def _check_port(colon_port):
    if colon_port and not re.fullmatch(r":[0-9]*", colon_port):
        raise BadURL("its port is not a number")


def _host_problem(parsed):
    """What the dialer refuses after parsing: no host name, a colon in a name, a port past 65535."""
    host = parsed.host
    if host.startswith("["):
        name, port = host[1 : host.rfind("]")], host[host.rfind("]") + 2 :]
    else:
        name, _, port = host.partition(":")
        if ":" in port:
            return (
                "its host name holds a colon (an IPv6 address goes in brackets: https://[::1]:6443)"
            )
    if not name:
        return "it names no host"
    if port and int(port) > 65535:
        return f"its port {port} is past 65535"
    return None


def redacted(url, proxy=False):
    """The URL to show in a message: as it is, or not at all when it may hold credentials."""
    return (
        "(not shown: it may hold credentials)" if has_credentials(url, proxy) or "@" in url else url
    )
