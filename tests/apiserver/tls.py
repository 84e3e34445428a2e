"""TLS: request a client certificate without requiring or judging it."""

import ctypes
import ctypes.util
import platform
import ssl
from typing import Tuple

_SSL_VERIFY_PEER = 1
_VERIFY_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


@_VERIFY_CB
def _accept_any_chain(preverify_ok, store_ctx):
    # Go's tls.RequestClientCert: take whatever the client sends; the HTTP
    # handler decides (and answers 401), not the handshake.
    return 1


def _libssl():
    """The libssl the running _ssl module uses (dlsym searches its deps)."""
    lib = ctypes.CDLL(ssl._ssl.__file__)
    try:
        lib.SSL_CTX_set_verify  # noqa: B018 (the lookup is the test: dlsym raises AttributeError)
        return lib
    except AttributeError:
        pass
    name = ctypes.util.find_library("ssl")
    lib = ctypes.CDLL(name) if name else None
    if lib is None or lib.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
        raise OSError("cannot find the libssl used by the ssl module")
    return lib


def _ssl_ctx_pointer(context: ssl.SSLContext) -> int:
    # CPython's PySSLContext starts with PyObject_HEAD then `SSL_CTX *ctx`.
    if platform.python_implementation() != "CPython":
        raise OSError("SSL_CTX pointer layout is only known for CPython")
    return ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value


def _request_client_certificate(context: ssl.SSLContext, client_ca_file: str) -> None:
    lib = _libssl()
    lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
    lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
    lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY_CB]
    lib.SSL_CTX_set_verify.restype = None
    ctx = _ssl_ctx_pointer(context)
    # Prove the pointer is the SSL_CTX before writing through it: Python's
    # verify_mode setter must show up in OpenSSL's view of the same context.
    for mode, expected in ((ssl.CERT_REQUIRED, 3), (ssl.CERT_NONE, 0)):
        context.verify_mode = mode
        if lib.SSL_CTX_get_verify_mode(ctx) != expected:
            raise OSError("SSL_CTX pointer check failed")
    context.verify_mode = ssl.CERT_OPTIONAL  # Python keeps our callback from here on
    lib.SSL_CTX_set_verify(ctx, _SSL_VERIFY_PEER, _accept_any_chain)
    _advertise_client_cas(lib, ctx, client_ca_file)


def _advertise_client_cas(lib, ctx: int, client_ca_file: str) -> None:
    # Go servers name the client CAs in CertificateRequest; non-Go clients
    # (curl, Python) use that list to pick a certificate.
    lib.SSL_load_client_CA_file.argtypes = [ctypes.c_char_p]
    lib.SSL_load_client_CA_file.restype = ctypes.c_void_p
    lib.SSL_CTX_set_client_CA_list.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.SSL_CTX_set_client_CA_list.restype = None
    names = lib.SSL_load_client_CA_file(client_ca_file.encode())
    if names:
        lib.SSL_CTX_set_client_CA_list(ctx, names)


def _server_context(
    server_cert: str, server_key: str, client_ca_file: str
) -> Tuple[ssl.SSLContext, str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(server_cert, server_key)
    context.set_alpn_protocols(["http/1.1"])
    try:
        _request_client_certificate(context, client_ca_file)
        return context, "request"
    except (OSError, AttributeError, ValueError):
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(client_ca_file)
        context.verify_flags |= 0x200000  # X509_V_FLAG_NO_CHECK_TIME: the handler judges time
        return context, "handshake"
