"""Daily sales report: the kind of script KubeScribe is built to supervise.

Reads a CSV of sales (date,region,product,units,unit_price), totals units and revenue per
region, writes the report as JSON to <output_dir>/report-<YYYY-MM-DD>.json and prints a
short summary. Rows with a missing or non-numeric units/unit_price are rejected and
counted; a file with a wrong header or a row with the wrong number of columns is not a
sales file at all, so the script fails with a traceback and exit code 1.

Params (KUBESCRIBE_PARAMS, or defaults when run by hand from the repo root):
    input       CSV path, relative to the working directory or absolute
                (default examples/report/data.csv)
    output_dir  directory for the report, created if missing (default out/)

Standard library only; Python 3.8+.
"""

import csv
import datetime
import json
import os
import sys
import tempfile
from decimal import Decimal, InvalidOperation
from typing import Dict, List, Optional, Tuple

# The helper lives in this repository rather than on PyPI, so find it relative to this file
# and not to the working directory, which the runner chooses.
sys.path.insert(
    0,
    os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "helpers", "python"),
)
import kubescribe  # noqa: E402

HEADER = ["date", "region", "product", "units", "unit_price"]
CENT = Decimal("0.01")


def log(message: str) -> None:
    # Progress goes to stderr so stdout carries only the summary a person reads.
    print(message, file=sys.stderr, flush=True)


def string_param(p: Dict[str, object], name: str, default: str) -> str:
    value = p.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("param {!r} must be a non-empty string, got {!r}".format(name, value))
    return value


def parse_row(row: List[str]) -> Tuple[Optional[Tuple[int, Decimal]], str]:
    """Return ((units, unit_price), "") for a usable row, or (None, reason) to reject it."""
    units_text = row[3].strip()
    price_text = row[4].strip()
    if not units_text:
        return None, "units is empty"
    try:
        units = int(units_text)
    except ValueError:
        return None, "units is not a whole number: {!r}".format(units_text)
    if not price_text:
        return None, "unit_price is empty"
    try:
        price = Decimal(price_text)
    except InvalidOperation:
        return None, "unit_price is not a number: {!r}".format(price_text)
    # Decimal accepts "NaN" and "Infinity", which would poison every total they touch.
    if not price.is_finite():
        return None, "unit_price is not a number: {!r}".format(price_text)
    return (units, price), ""


def read_sales(path: str) -> dict:
    """Aggregate the CSV at path. Raises ValueError when the file is not a sales CSV."""
    units_by_region = {}  # type: Dict[str, int]
    revenue_by_region = {}  # type: Dict[str, Decimal]
    rejected = []  # type: List[Dict[str, object]]
    rows_read = 0
    first_date = None  # type: Optional[str]
    last_date = None  # type: Optional[str]

    # utf-8-sig: spreadsheet exports often start with a byte-order mark, which would
    # otherwise make the first header cell "\ufeffdate".
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError("{}: empty file, expected header {}".format(path, ",".join(HEADER)))
        if [cell.strip() for cell in header] != HEADER:
            raise ValueError(
                "{}:{}: expected header {}, got {}".format(
                    path, reader.line_num, ",".join(HEADER), ",".join(header)
                )
            )
        for row in reader:
            if not row:
                continue  # editors leave blank lines at the end; they carry no data
            if len(row) != len(HEADER):
                raise ValueError(
                    "{}:{}: expected {} columns, got {}".format(
                        path, reader.line_num, len(HEADER), len(row)
                    )
                )
            rows_read += 1
            parsed, reason = parse_row(row)
            if parsed is None:
                rejected.append({"line": reader.line_num, "reason": reason})
                log("{}:{}: rejected: {}".format(path, reader.line_num, reason))
                continue
            units, price = parsed
            date, region = row[0].strip(), row[1].strip()
            units_by_region[region] = units_by_region.get(region, 0) + units
            revenue_by_region[region] = revenue_by_region.get(region, Decimal(0)) + units * price
            # ISO dates compare correctly as strings.
            first_date = date if first_date is None or date < first_date else first_date
            last_date = date if last_date is None or date > last_date else last_date

    return {
        "rows_read": rows_read,
        "rejected": rejected,
        "units": units_by_region,
        "revenue": revenue_by_region,
        "period": {"from": first_date, "to": last_date},
    }


def build_report(path: str, sales: dict, now: datetime.datetime) -> dict:
    units, revenue = sales["units"], sales["revenue"]
    revenue_total = sum(revenue.values(), Decimal(0))
    return {
        "job": kubescribe.job(),
        "run_id": kubescribe.run_id(),
        "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "input": path,
        "period": sales["period"],
        "rows_read": sales["rows_read"],
        "rows_accepted": sales["rows_read"] - len(sales["rejected"]),
        "rows_rejected": len(sales["rejected"]),
        "rejected": sales["rejected"],
        "regions": {
            name: {"units": units[name], "revenue": float(revenue[name].quantize(CENT))}
            for name in sorted(units)
        },
        "units_total": sum(units.values()),
        "revenue_total": float(revenue_total.quantize(CENT)),
    }


def write_json(path: str, data: dict) -> None:
    # Write to a temporary file and rename, so a crash never leaves a half-written report
    # where the next consumer would pick it up.
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main() -> None:
    p = kubescribe.params()
    input_path = string_param(p, "input", "examples/report/data.csv")
    output_dir = string_param(p, "output_dir", "out/")
    # UTC, so the report's name does not depend on the time zone of the node it ran on.
    now = datetime.datetime.now(datetime.timezone.utc)

    log("reading {}".format(input_path))
    sales = read_sales(input_path)
    log(
        "read {} rows, rejected {}, {} regions".format(
            sales["rows_read"], len(sales["rejected"]), len(sales["units"])
        )
    )

    report = build_report(input_path, sales, now)
    os.makedirs(output_dir, exist_ok=True)
    report_path = os.path.abspath(
        os.path.join(output_dir, "report-{}.json".format(now.strftime("%Y-%m-%d")))
    )
    log("writing {}".format(report_path))
    write_json(report_path, report)

    kubescribe.metric("rows_read", report["rows_read"])
    kubescribe.metric("rows_rejected", report["rows_rejected"])
    kubescribe.metric("revenue_total", report["revenue_total"])
    kubescribe.output("report", {"path": report_path, "regions": len(report["regions"])})

    period = report["period"]
    print("Sales report {} to {}".format(period["from"], period["to"]))
    print("rows read: {}, rejected: {}".format(report["rows_read"], report["rows_rejected"]))
    for name, totals in report["regions"].items():
        print("  {:<8} {:>12,.2f}  ({} units)".format(name, totals["revenue"], totals["units"]))
    print("  {:<8} {:>12,.2f}  ({} units)".format("total", report["revenue_total"], report["units_total"]))
    print("report: {}".format(report_path))


if __name__ == "__main__":
    main()
