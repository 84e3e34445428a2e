"""The PKI: keys, subjects, certificates and requests, and the signers that turn a request into a
certificate. `openssl/` is the only code that runs openssl; what it prints is parsed there too."""
