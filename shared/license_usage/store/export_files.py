"""Export files in the exports bucket (SPEC §8): written as their rows arrive, with an S3
multipart upload, so memory does not grow with the rows; and presigned download links.

CSV goes straight to the upload: rows are encoded into a byte buffer that is sent as a part each time
it holds ``PART_BYTES`` (a file that fits in one part is one PutObject). XLSX is a zip that is
complete only when closed, so xlsxwriter writes it in ``constant_memory`` mode (one row in memory
at a time) to a temporary file, which is then uploaded in parts. The object key is the export's
own: a job that runs twice writes the same key, and an upload replaces the object only when it
completes, so a reader sees one whole file or the other, never a mix."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from datetime import date
from functools import cache
from typing import IO, Any

from license_usage.domain.exports import (
    XLSX_MAX_ROWS,
    Cell,
    ExportFile,
    ExportFormat,
    ExportTooLarge,
    Instant,
    Sheet,
    csv_field,
    neutralise,
)

PART_BYTES = 6 * 1024 * 1024  # S3's minimum part is 5 MiB (except the last)
CONTENT_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@cache
def s3() -> Any:
    import boto3
    from botocore.config import Config

    # SigV4 links (X-Amz-Expires), the only kind newer regions accept.
    return boto3.client("s3", config=Config(signature_version="s3v4"))


def bucket() -> str:
    return os.environ["EXPORTS_BUCKET"]


class _Upload:
    """The object, sent part by part: one PutObject when it fits in one part, else a multipart
    upload (aborted unless completed)."""

    def __init__(self, key: str, content_type: str) -> None:
        self.key = key
        self.content_type = content_type
        self.first: bytes | None = None  # held until a second part shows a multipart upload is needed
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.size = 0  # bytes sent

    def send(self, data: bytes) -> None:
        self.size += len(data)
        if self.upload_id is None and self.first is None:
            self.first = data
            return
        if self.upload_id is None:
            self.upload_id = s3().create_multipart_upload(
                Bucket=bucket(), Key=self.key, ContentType=self.content_type, ServerSideEncryption="AES256"
            )["UploadId"]
            self._part(self.first or b"")
            self.first = None
        self._part(data)

    def _part(self, data: bytes) -> None:
        number = len(self.parts) + 1
        answer = s3().upload_part(Bucket=bucket(), Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data)
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def complete(self) -> None:
        if self.upload_id is None:
            s3().put_object(
                Bucket=bucket(),
                Key=self.key,
                Body=self.first or b"",
                ContentType=self.content_type,
                ServerSideEncryption="AES256",
            )
            return
        s3().complete_multipart_upload(
            Bucket=bucket(), Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )

    def abort(self) -> None:
        if self.upload_id is not None:
            s3().abort_multipart_upload(Bucket=bucket(), Key=self.key, UploadId=self.upload_id)


def write_export(key: str, export: ExportFile, fmt: ExportFormat) -> int:
    """Write the export to ``key``; returns the rows of its first sheet."""
    return write_sized_export(key, export, fmt)[0]


def write_sized_export(key: str, export: ExportFile, fmt: ExportFormat) -> tuple[int, int]:
    """Write the export to ``key``; returns the rows of its first sheet and the object's bytes."""
    upload = _Upload(key, CONTENT_TYPES[fmt])
    try:
        rows = _write_csv(upload, export.sheets[0]) if fmt is ExportFormat.CSV else _write_xlsx(upload, export)
        upload.complete()
    except BaseException:
        upload.abort()
        raise
    return rows, upload.size


def _write_csv(upload: _Upload, sheet: Sheet) -> int:
    # Rows are encoded as they are written (a text buffer would hold 4 bytes per character).
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=True)
    # RFC 4180. The header (the spec's own column names) is quoted only where needed; every text
    # cell of a row is quoted, numbers are not (domain/exports.py: csv_field).
    csv.writer(text, lineterminator="\r\n").writerow([neutralise(name) for name in sheet.header])
    writer = csv.writer(text, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    rows = 0
    for row in sheet.rows:
        writer.writerow([csv_field(cell) for cell in row])
        rows += 1
        if raw.tell() >= PART_BYTES:
            upload.send(raw.getvalue())
            raw.seek(0)
            raw.truncate()
    text.flush()
    upload.send(raw.getvalue())
    text.detach()
    return rows


# ---------------------------------------------------------------------- XLSX


def _width(name: str, sample: Cell) -> float:
    if isinstance(sample, Instant):
        return 20
    if isinstance(sample, date):
        return 12
    return max(10, min(48, len(name) + 2))


def _write_xlsx(upload: _Upload, export: ExportFile) -> int:
    import xlsxwriter

    first_rows = 0
    with tempfile.NamedTemporaryFile(suffix=".xlsx", delete=True) as target:
        book = xlsxwriter.Workbook(target.name, {"constant_memory": True, "strings_to_formulas": False})
        formats = {
            "header": book.add_format({"bold": True, "bg_color": "#E8EEF4", "bottom": 1}),
            "date": book.add_format({"num_format": "yyyy-mm-dd"}),
            "instant": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        }
        for index, sheet in enumerate(export.sheets):
            rows = _write_sheet(book, formats, sheet)
            if index == 0:
                first_rows = rows
        book.close()
        _upload_file(upload, target)
    return first_rows


def _write_sheet(book: Any, formats: dict[str, Any], sheet: Sheet) -> int:
    page = book.add_worksheet(sheet.name[:31])
    page.freeze_panes(1, 0)
    for column, name in enumerate(sheet.header):
        page.write_string(0, column, neutralise(name), formats["header"])
    widths_set = False
    rows = 0
    for rows, row in enumerate(sheet.rows, start=1):
        if rows > XLSX_MAX_ROWS:
            raise ExportTooLarge(
                f"The {sheet.name} sheet has more than {XLSX_MAX_ROWS:,} rows, the most a spreadsheet holds: "
                "export it as CSV."
            )
        if not widths_set:  # from the first row's cell types (constant_memory writes rows in order)
            for column, name in enumerate(sheet.header):
                page.set_column(column, column, _width(name, row[column] if column < len(row) else None))
            widths_set = True
        for column, cell in enumerate(row):
            _write_cell(page, rows, column, cell, formats)
    if not widths_set:
        for column, name in enumerate(sheet.header):
            page.set_column(column, column, _width(name, None))
    return rows


def _write_cell(page: Any, row: int, column: int, cell: Cell, formats: dict[str, Any]) -> None:
    if cell is None:
        return
    if isinstance(cell, Instant):
        page.write_datetime(row, column, cell.value.replace(tzinfo=None), formats["instant"])
    elif isinstance(cell, date):
        page.write_datetime(row, column, cell, formats["date"])
    elif isinstance(cell, bool):
        page.write_number(row, column, int(cell))
    elif isinstance(cell, int | float):
        page.write_number(row, column, cell)
    else:
        page.write_string(row, column, neutralise(cell))


def _upload_file(upload: _Upload, target: IO[bytes]) -> None:
    with open(target.name, "rb") as done:
        while chunk := done.read(PART_BYTES):
            upload.send(chunk)


# ---------------------------------------------------------------------- links


def presigned_link(key: str, download_name: str, seconds: int) -> str:
    """A GET link to the object, valid ``seconds``, that saves it as ``download_name``."""
    url: str = s3().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket(),
            "Key": key,
            "ResponseContentDisposition": f'attachment; filename="{download_name}"',
        },
        ExpiresIn=seconds,
    )
    return url
