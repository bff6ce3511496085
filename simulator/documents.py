"""What Amazon prints for a drop-ship order: carrier tracking numbers, ZPL or PNG shipping labels, packing slip PDFs."""

from __future__ import annotations

import random
import string
import struct
import zlib
from collections.abc import Mapping
from typing import Any

# Amazon's ship method codes are vendor specific (Shipping model, LabelData.shipMethod); these are the ones the
# order generator uses, with the names a label prints.
SHIP_METHOD_NAMES = {
    "UPS_GR_RES": "UPS Ground Residential",
    "UPS_2ND_DAY": "UPS 2nd Day Air",
    "FEDEX_GROUND": "FedEx Ground",
    "FEDEX_HOME": "FedEx Home Delivery",
    "USPS_PRIORITY": "USPS Priority Mail",
    "USPS_FIRST_CLASS": "USPS First-Class Mail",
}
_ALNUM = string.ascii_uppercase + string.digits


def ship_method_name(ship_method: str) -> str:
    return SHIP_METHOD_NAMES.get(ship_method, ship_method.replace("_", " ").title())


def tracking_number(ship_method: str, rng: random.Random) -> str:
    """A tracking number in the carrier's own shape: UPS 1Z (18), FedEx (12 digits), USPS (22 digits), else TBA."""
    carrier = ship_method.split("_", 1)[0].upper()
    if carrier == "UPS":
        shipper = "".join(rng.choice(_ALNUM) for _ in range(6))
        body = shipper + "03" + "".join(rng.choice(string.digits) for _ in range(7))
        return "1Z" + body + str(_ups_check_digit(body))
    if carrier == "FEDEX":
        return "".join(rng.choice(string.digits) for _ in range(12))
    if carrier == "USPS":
        return "94001" + "".join(rng.choice(string.digits) for _ in range(17))
    return "TBA" + "".join(rng.choice(string.digits) for _ in range(12))  # Amazon Logistics


def _ups_check_digit(body: str) -> int:
    # UPS: letters map to (ord - 63) % 10, odd positions count once and even positions twice, mod 10.
    total = 0
    for index, char in enumerate(body, start=1):
        value = int(char) if char.isdigit() else (ord(char) - 63) % 10
        total += value * (2 if index % 2 == 0 else 1)
    return (10 - total % 10) % 10


def _zpl_text(value: object) -> str:
    # ^ and ~ start ZPL commands; they must not appear inside field data.
    return str(value).replace("^", " ").replace("~", " ")


def zpl_label(
    *,
    purchase_order_number: str,
    ship_from_party_id: str,
    selling_party_id: str,
    ship_to: Mapping[str, Any],
    ship_method: str,
    tracking: str,
    package: str,
    packages: int,
    weight: Mapping[str, Any] | None,
) -> bytes:
    """A 4x6 inch label at 203 dpi: sender, ship-to, service, tracking barcode (Code 128), order and package."""
    lines = [
        "^XA",
        "^CI28",
        "^PW812",
        "^LL1218",
        f"^FO30,30^A0N,28,28^FDFROM: {_zpl_text(selling_party_id)} / {_zpl_text(ship_from_party_id)}^FS",
        "^FO30,80^GB752,3,3^FS",
        "^FO30,110^A0N,34,34^FDSHIP TO:^FS",
    ]
    address = [
        ship_to.get("name"),
        ship_to.get("attention"),
        ship_to.get("addressLine1"),
        ship_to.get("addressLine2"),
        ship_to.get("addressLine3"),
        " ".join(str(part) for part in (ship_to.get("city"), ship_to.get("stateOrRegion"), ship_to.get("postalCode"))
                 if part),
        ship_to.get("countryCode"),
    ]
    y = 160
    for part in address:
        if part:
            lines.append(f"^FO60,{y}^A0N,40,40^FD{_zpl_text(part)}^FS")
            y += 50
    weight_text = f"{weight['value']} {weight['unitOfMeasure']}" if weight else ""
    lines += [
        "^FO30,560^GB752,3,3^FS",
        f"^FO30,590^A0N,50,50^FD{_zpl_text(ship_method_name(ship_method))}^FS",
        f"^FO30,660^A0N,30,30^FDTRACKING #: {tracking}^FS",
        f"^FO60,710^BY3^BCN,220,Y,N,N^FD{tracking}^FS",
        f"^FO30,1020^A0N,30,30^FDPO {_zpl_text(purchase_order_number)}   PKG {package} OF {packages:03d}^FS",
        f"^FO30,1070^A0N,30,30^FDWT {_zpl_text(weight_text)}^FS",
        "^XZ",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def png_label(tracking: str) -> bytes:
    """A small valid PNG (1-bit, 200x300) with a border and a bar pattern drawn from the tracking number."""
    width, height = 200, 300
    bars = [int(bit) for char in tracking for bit in f"{ord(char):08b}"]
    rows = []
    for y in range(height):
        pixels = []
        for x in range(width):
            border = x < 4 or y < 4 or x >= width - 4 or y >= height - 4
            bar = 60 <= y < 240 and 20 <= x < 180 and bars[(x - 20) % len(bars)] == 1
            pixels.append(0 if border or bar else 1)  # 0 is black in a grayscale 1-bit image
        packed = bytearray()
        for start in range(0, width, 8):
            byte = pixels[start : start + 8]
            byte += [1] * (8 - len(byte))
            packed.append(int("".join(map(str, byte)), 2))
        rows.append(b"\x00" + bytes(packed))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(
        b"IEND", b""
    )


def _pdf_text(value: object) -> str:
    text = str(value).encode("latin-1", errors="replace").decode("latin-1")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def packing_slip_pdf(order: Mapping[str, Any]) -> bytes:
    """A one-page PDF 1.4 packing slip: order numbers, ship-to, the items and any gift message."""
    details = order["orderDetails"]
    ship_to = details.get("shipToParty", {})
    lines: list[tuple[int, str]] = [
        (18, "Packing slip"),
        (11, f"Order {details.get('customerOrderNumber', '')}"),
        (11, f"Purchase order {order['purchaseOrderNumber']}"),
        (11, ""),
        (11, "Ship to:"),
    ]
    for key in ("name", "addressLine1", "addressLine2", "city", "stateOrRegion", "postalCode", "countryCode"):
        if ship_to.get(key):
            lines.append((11, f"    {ship_to[key]}"))
    lines += [(11, ""), (11, "Qty   Item")]
    gift: str | None = None
    for item in details.get("items", []):
        quantity = item.get("orderedQuantity", {}).get("amount", "")
        lines.append((11, f"{quantity:>3}   {item.get('title', '')} ({item.get('vendorProductIdentifier', '')})"))
        gift = gift or item.get("giftDetails", {}).get("giftMessage")
    if gift:
        lines += [(11, ""), (11, f"Gift message: {gift}")]
    lines += [(11, ""), (9, "Thank you for shopping with us.")]
    stream_lines = ["BT", "/F1 11 Tf", "50 800 Td"]
    for size, text in lines:
        stream_lines += [f"/F1 {size} Tf", f"({_pdf_text(text)}) Tj", f"0 -{size + 6} Td"]
    stream_lines.append("ET")
    content = "\n".join(stream_lines).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
