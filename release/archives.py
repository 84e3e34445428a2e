"""Reproducible archives for the release: the same entries give the same bytes (fixed timestamps,
owners and permissions)."""

import gzip
import io
import os
import tarfile
import time
import zipfile

ZIP_EPOCH = 315532800  # 1980-01-01: zip cannot say anything before


def zip_bytes(entries, epoch, stored=()):
    """A zip of (name, data) entries, in that order, dated `epoch`, files 0644; the entries named
    in `stored` are not compressed."""
    date_time = time.gmtime(max(epoch, ZIP_EPOCH))[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for arcname, data in entries:
            info = zipfile.ZipInfo(arcname, date_time=date_time)
            info.compress_type = zipfile.ZIP_STORED if arcname in stored else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, so the permissions above count
            bundle.writestr(info, data)
    return buffer.getvalue()


def write_tar_gz(path, files, epoch):
    """A tar.gz of (name, data, mode) regular files at the top level: what krew's extractor
    accepts. Written beside `path` and renamed into place."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data, mode in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, epoch
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    partial = path + ".partial"
    with open(partial, "wb") as handle:
        with gzip.GzipFile(
            filename="", mode="wb", fileobj=handle, mtime=epoch, compresslevel=9
        ) as gz:
            gz.write(raw.getvalue())
    os.replace(partial, path)
