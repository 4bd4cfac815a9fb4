"""Generate the province data of the Thái Bình reference inventory (and the lab's database list).

Writes, deterministically (seeded), under inventory/thaibinh/group_vars/all/:

- agencies.yml: ``pdic_agencies``, 788 organisations on the e-office: 21 provincial agencies,
  8 district-level People's Committees with 9 units each (101 provincial/district agencies)
  and 229 communes with 3 units each (687 commune-level units);
- portal.yml: ``portal_sites``, the 27 component portals (19 provincial agencies, 8 districts);
- mail.yml: ``mail_domains``, ``mail_mailboxes`` (exactly 6,000) and ``mail_aliases``;
- databases.yml: ``postgresql_roles`` and ``postgresql_databases``;

and inventory/lab/group_vars/all/databases.yml with the same database list.

Provincial agencies, districts and district units carry their real names. Commune names are
synthetic (built from syllables common in Thái Bình place names, per district), as are the
people's names: the data has the shape and size of the province, not its registry.

Run from the repository root: ``python tools/gen_thaibinh.py`` (``--check`` exits 1 if the
committed files differ from what it would write).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
THAIBINH = ROOT / "inventory" / "thaibinh" / "group_vars" / "all"
LAB = ROOT / "inventory" / "lab" / "group_vars" / "all"
SEED = 20170101
DOMAIN = "thaibinh.gov.vn"
MAIL_HOSTS = {"province": "mail-1", "district": "mail-2"}
MAILBOXES = 6000

# id, name, mail/web label (None: the province's own domain), has a component portal
PROVINCIAL = [
    ("ubnd-tinh", "Ủy ban nhân dân tỉnh Thái Bình", None, False),
    ("vp-ubnd-tinh", "Văn phòng Ủy ban nhân dân tỉnh", None, False),
    ("so-noi-vu", "Sở Nội vụ", "sonoivu", True),
    ("so-tu-phap", "Sở Tư pháp", "sotuphap", True),
    ("so-tai-chinh", "Sở Tài chính", "sotaichinh", True),
    ("so-ke-hoach-dau-tu", "Sở Kế hoạch và Đầu tư", "sokhdt", True),
    ("so-tai-nguyen-moi-truong", "Sở Tài nguyên và Môi trường", "sotnmt", True),
    ("so-xay-dung", "Sở Xây dựng", "soxaydung", True),
    ("so-giao-thong-van-tai", "Sở Giao thông vận tải", "sogtvt", True),
    ("so-cong-thuong", "Sở Công Thương", "socongthuong", True),
    ("so-nong-nghiep", "Sở Nông nghiệp và Phát triển nông thôn", "sonnptnt", True),
    ("so-lao-dong", "Sở Lao động - Thương binh và Xã hội", "soldtbxh", True),
    ("so-giao-duc", "Sở Giáo dục và Đào tạo", "sogddt", True),
    ("so-y-te", "Sở Y tế", "soyte", True),
    ("so-van-hoa", "Sở Văn hóa, Thể thao và Du lịch", "sovhttdl", True),
    ("so-thong-tin", "Sở Thông tin và Truyền thông", "sotttt", True),
    ("so-khoa-hoc", "Sở Khoa học và Công nghệ", "sokhcn", True),
    ("thanh-tra-tinh", "Thanh tra tỉnh", "thanhtra", True),
    ("bql-khu-kinh-te", "Ban Quản lý Khu kinh tế và các khu công nghiệp tỉnh", "bqlkkt", True),
    ("dai-ptth", "Đài Phát thanh và Truyền hình Thái Bình", "thaibinhtv", True),
    ("tt-hanh-chinh-cong", "Trung tâm Phục vụ hành chính công tỉnh", "hanhchinhcong", True),
]

# id prefix, name, web/mail label, kind, number of communes, first syllables of commune names
DISTRICTS = [
    ("tp-thai-binh", "thành phố Thái Bình", "tpthaibinh", "city", 19, ["Tiền", "Kỳ", "Quang"]),
    ("dong-hung", "huyện Đông Hưng", "donghung", "rural", 33, ["Đông", "Hồng", "Liên"]),
    ("hung-ha", "huyện Hưng Hà", "hungha", "rural", 31, ["Hòa", "Tân", "Minh"]),
    ("kien-xuong", "huyện Kiến Xương", "kienxuong", "rural", 30, ["Quang", "Bình", "Vũ"]),
    ("quynh-phu", "huyện Quỳnh Phụ", "quynhphu", "rural", 32, ["Quỳnh", "An", "Đồng"]),
    ("thai-thuy", "huyện Thái Thụy", "thaithuy", "rural", 30, ["Thụy", "Thái", "Hồng"]),
    ("tien-hai", "huyện Tiền Hải", "tienhai", "rural", 28, ["Đông", "Tây", "Nam"]),
    ("vu-thu", "huyện Vũ Thư", "vuthu", "rural", 26, ["Vũ", "Việt", "Tân"]),
]
SECOND_SYLLABLES = [
    "An",
    "Bình",
    "Châu",
    "Cơ",
    "Dũng",
    "Đoài",
    "Hà",
    "Hải",
    "Hòa",
    "Hồng",
    "Hưng",
    "Lạc",
    "Lâm",
    "Lễ",
    "Lĩnh",
    "Long",
    "Lương",
    "Mỹ",
    "Nghĩa",
    "Ninh",
    "Phong",
    "Phú",
    "Phúc",
    "Quý",
    "Sơn",
    "Tân",
    "Thái",
    "Thành",
    "Thịnh",
    "Thọ",
    "Thuận",
    "Tiến",
    "Trung",
    "Trường",
    "Văn",
    "Việt",
    "Vinh",
    "Xuân",
]

# id suffix, name (the district's name follows), rural/city variant of the last one
DISTRICT_UNITS = [
    ("van-phong", "Văn phòng HĐND và UBND"),
    ("noi-vu", "Phòng Nội vụ"),
    ("tu-phap", "Phòng Tư pháp"),
    ("tai-chinh", "Phòng Tài chính - Kế hoạch"),
    ("tai-nguyen", "Phòng Tài nguyên và Môi trường"),
    ("lao-dong", "Phòng Lao động - Thương binh và Xã hội"),
    ("van-hoa", "Phòng Văn hóa và Thông tin"),
    ("giao-duc", "Phòng Giáo dục và Đào tạo"),
]
DISTRICT_LAST_UNIT = {
    "rural": ("nong-nghiep", "Phòng Nông nghiệp và Phát triển nông thôn"),
    "city": ("quan-ly-do-thi", "Phòng Quản lý đô thị"),
}
# id suffix ("" for the People's Committee), name prefix, functional mailboxes
COMMUNE_UNITS = [
    ("", "Ủy ban nhân dân", ["vanthu", "chutich", "ketoan", "diachinh", "tuphap"]),
    ("du", "Đảng ủy", ["danguy"]),
    ("mttq", "Ủy ban Mặt trận Tổ quốc", []),
]
FUNCTIONS = {
    "vanthu": "Văn thư",
    "chutich": "Chủ tịch",
    "ketoan": "Kế toán",
    "diachinh": "Địa chính - Xây dựng",
    "tuphap": "Tư pháp - Hộ tịch",
    "danguy": "Văn phòng Đảng ủy",
}

FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Vũ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Ngô",
    "Dương",
    "Phan",
    "Đào",
    "Đinh",
    "Hà",
    "Mai",
    "Trịnh",
    "Lương",
    "Tạ",
    "Lại",
]
MIDDLE_MALE = ["Văn", "Hữu", "Đức", "Minh", "Quang", "Xuân", "Thanh", "Công", "Ngọc", "Duy"]
MIDDLE_FEMALE = ["Thị", "Thu", "Thanh", "Ngọc", "Hồng", "Kim", "Minh", "Phương", "Thúy", "Mai"]
GIVEN_MALE = [
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Đạt",
    "Hải",
    "Hiếu",
    "Hùng",
    "Huy",
    "Khánh",
    "Long",
    "Minh",
    "Nam",
    "Phong",
    "Quân",
    "Sơn",
    "Thắng",
    "Trung",
    "Tuấn",
    "Tùng",
    "Việt",
    "Vinh",
]
GIVEN_FEMALE = [
    "Anh",
    "Chi",
    "Dung",
    "Giang",
    "Hà",
    "Hạnh",
    "Hằng",
    "Hoa",
    "Hương",
    "Huyền",
    "Lan",
    "Linh",
    "Loan",
    "Mai",
    "Nga",
    "Ngọc",
    "Nhung",
    "Oanh",
    "Phương",
    "Thảo",
    "Trang",
    "Vân",
    "Yến",
]

QUOTAS = [("1G", 25), ("2G", 60), ("5G", 15)]
DISABLED_RATE = 0.03

# name, owner role, description
DATABASES = [
    ("vanban", "vanban_owner", "Văn bản: documents exchanged and signed on the e-office"),
    ("tthc", "tthc_owner", "Thủ tục hành chính: administrative procedures and their records"),
    ("nguoicocong", "nguoicocong_owner", "Người có công: people with meritorious service"),
    ("tuphap", "tuphap_owner", "Tư pháp: civil status and judicial records"),
    ("datdai", "datdai_owner", "Đất đai: land registry"),
    ("cbccvc", "cbccvc_owner", "Cán bộ, công chức, viên chức: civil-servant records"),
    ("portal", "portal_owner", "Cổng thông tin: the portal and its component sites"),
    ("eoffice", "eoffice_owner", "Văn phòng điện tử: the e-office application"),
    ("hcc", "hcc_owner", "Một cửa: the one-stop-shop application"),
]
# role name, groups of hosts that connect as it, databases it reads and writes, description.
# Owners log in nowhere; the replication role connects to the replication pseudo-database.
# Backups (pgBackRest) and the postgres exporter reach PostgreSQL on the db hosts themselves,
# over its local socket, as roles of the postgresql role: they are not province data.
ROLES = [
    *(
        (owner, [], [], f"Owns database {name}; no host logs in as it")
        for name, owner, _ in DATABASES
    ),
    ("vanban_app", ["eoffice"], ["vanban"], "The e-office reading and writing documents"),
    (
        "tthc_app",
        ["hcc", "portal"],
        ["tthc"],
        "One-stop shop and portal on administrative procedures",
    ),
    ("nguoicocong_app", ["hcc"], ["nguoicocong"], "One-stop shop on meritorious-service records"),
    ("tuphap_app", ["hcc"], ["tuphap"], "One-stop shop on justice records"),
    ("datdai_app", ["hcc"], ["datdai"], "One-stop shop on land records"),
    ("cbccvc_app", ["eoffice"], ["cbccvc"], "The e-office on civil-servant records"),
    ("portal_app", ["portal"], ["portal"], "The portal application"),
    ("eoffice_app", ["eoffice"], ["eoffice"], "The e-office application"),
    ("hcc_app", ["hcc"], ["hcc"], "The one-stop-shop application"),
    ("replicator", ["db"], [], "Streaming replication between the db hosts"),
]


def ascii_fold(text: str) -> str:
    """'Đông Hưng' -> 'dong hung'."""
    text = text.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", ascii_fold(text)).strip("-")


# -- YAML output ------------------------------------------------------------------------------

PLAIN = re.compile(r"[a-z][a-z0-9._@/-]*|[1-9][0-9]*[KMGT]")
YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def scalar(value: Any) -> str:
    if isinstance(value, str) and PLAIN.fullmatch(value) and value not in YAML_WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)


def yaml_list(key: str, items: Iterable[Mapping[str, Any]]) -> list[str]:
    """A block list of flat mappings whose values are scalars or lists of scalars."""
    lines = [f"{key}:"]
    for item in items:
        lead = "  - "
        for name, value in item.items():
            if isinstance(value, list):
                if value:
                    lines.append(f"{lead}{name}:")
                    lines.extend(f"      - {scalar(v)}" for v in value)
                else:
                    lines.append(f"{lead}{name}: []")
            else:
                lines.append(f"{lead}{name}: {scalar(value)}")
            lead = "    "
    return lines


def document(header: Sequence[str], *sections: list[str]) -> str:
    lines = ["---", *(f"# {line}" if line else "#" for line in header)]
    for section in sections:
        lines.extend(["", *section])
    return "\n".join(lines) + "\n"


# -- the data ---------------------------------------------------------------------------------


def commune_list(rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(district prefix, commune id, name with its kind, mail label) of every commune."""
    out = []
    for prefix, _, _, kind, count, firsts in DISTRICTS:
        for name, commune_kind in communes(rng, kind, count, firsts):
            slug = slugify(name)
            out.append(
                (prefix, f"{prefix}-{slug}", f"{commune_kind} {name}", slug.replace("-", ""))
            )
    return out


def communes(rng: random.Random, kind: str, count: int, firsts: list[str]) -> list[tuple[str, str]]:
    """``count`` distinct synthetic commune names of a district and their kind (xã, phường...)."""
    names: list[str] = []
    while len(names) < count:
        first, second = rng.choice(firsts), rng.choice(SECOND_SYLLABLES)
        if first != second and f"{first} {second}" not in names:
            names.append(f"{first} {second}")
    if kind == "city":
        return [(n, "phường" if i < 10 else "xã") for i, n in enumerate(names)]
    return [(n, "thị trấn" if i == 0 else "xã") for i, n in enumerate(names)]


def agencies(commune_rows: list[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for agency_id, name, label, _ in PROVINCIAL:
        item: dict[str, Any] = {"id": agency_id, "name": name, "tier": "province"}
        if agency_id != "ubnd-tinh":
            item["parent"] = "ubnd-tinh"
        item["domain"] = f"{label}.{DOMAIN}" if label else DOMAIN
        out.append(item)
    district_domain = {}
    for prefix, district, label, kind, *_ in DISTRICTS:
        domain = district_domain[prefix] = f"{label}.{DOMAIN}"
        committee = {"id": prefix, "name": f"Ủy ban nhân dân {district}", "tier": "district"}
        out.append({**committee, "parent": "ubnd-tinh", "domain": domain})
        for suffix, unit in [*DISTRICT_UNITS, DISTRICT_LAST_UNIT[kind]]:
            out.append(
                {
                    "id": f"{prefix}-{suffix}",
                    "name": f"{unit} {district}",
                    "tier": "district",
                    "parent": prefix,
                    "domain": domain,
                }
            )
    for prefix, commune_id, name, _ in commune_rows:
        for suffix, unit, _ in COMMUNE_UNITS:
            out.append(
                {
                    "id": f"{commune_id}-{suffix}" if suffix else commune_id,
                    "name": f"{unit} {name}",
                    "tier": "commune",
                    "parent": commune_id if suffix else prefix,
                    "domain": district_domain[prefix],
                }
            )
    return out


def portal_sites(agency_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sites = []
    for agency_id, name, label, has_portal in PROVINCIAL:
        if has_portal:
            sites.append(
                {
                    "name": label,
                    "hostname": f"{label}.{DOMAIN}",
                    "agency": agency_id,
                    "title": f"Cổng thông tin điện tử {name} tỉnh Thái Bình".replace(
                        "Thái Bình tỉnh Thái Bình", "Thái Bình"
                    ),
                }
            )
    for prefix, district, label, *_ in DISTRICTS:
        sites.append(
            {
                "name": label,
                "hostname": f"{label}.{DOMAIN}",
                "agency": prefix,
                "title": f"Cổng thông tin điện tử {district}",
            }
        )
    known = {a["id"] for a in agency_list}
    assert all(site["agency"] in known for site in sites)
    return sites


def person(rng: random.Random) -> tuple[str, str]:
    """A Vietnamese full name and its mail local part (given name + initials: 'annv')."""
    family = rng.choice(FAMILY)
    if rng.random() < 0.5:
        middle, given = rng.choice(MIDDLE_MALE), rng.choice(GIVEN_MALE)
    else:
        middle, given = rng.choice(MIDDLE_FEMALE), rng.choice(GIVEN_FEMALE)
    local = ascii_fold(given).replace(" ", "") + ascii_fold(family)[0] + ascii_fold(middle)[0]
    return f"{family} {middle} {given}", local


def mail(
    rng: random.Random,
    agency_list: list[dict[str, Any]],
    commune_rows: list[tuple[str, str, str, str]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    domains: dict[str, str] = {}
    tiers: dict[str, str] = {}
    for agency in agency_list:
        if agency["tier"] != "commune" and agency["domain"] not in domains:
            domains[agency["domain"]] = agency["id"]
            tiers[agency["domain"]] = agency["tier"]
    # The provincial domains on the first mail host, the districts' (and their communes') on
    # the second.
    mail_domains = [
        {"name": name, "agency": owner, "host": MAIL_HOSTS[tiers[name]]}
        for name, owner in domains.items()
    ]

    boxes: list[dict[str, Any]] = []
    taken: set[str] = set()

    def add(local: str, domain: str, name: str, agency: str, size: str) -> str:
        base, n = local, 1
        while f"{local}@{domain}" in taken:
            n += 1
            local = f"{base}{n}"
        address = f"{local}@{domain}"
        taken.add(address)
        box: dict[str, Any] = {"address": address, "name": name, "agency": agency, "quota": size}
        if rng.random() < DISABLED_RATE:
            box["state"] = "disabled"
        boxes.append(box)
        return address

    functional: dict[str, list[str]] = {}
    by_id = {agency["id"]: agency for agency in agency_list}
    for _, commune_id, _, label in commune_rows:
        for suffix, _, fns in COMMUNE_UNITS:
            agency = by_id[f"{commune_id}-{suffix}" if suffix else commune_id]
            for fn in fns[: rng.randint(2, len(fns))] if len(fns) > 1 else fns:
                title = f"{FUNCTIONS[fn]} - {agency['name']}"
                address = add(f"{fn}.{label}", agency["domain"], title, agency["id"], "1G")
                functional.setdefault(agency["domain"], []).append(address)

    district_agencies = [a for a in agency_list if a["tier"] == "district"]
    for agency in district_agencies:
        for _ in range(40 if agency["parent"] == "ubnd-tinh" else rng.randint(12, 22)):
            name, local = person(rng)
            add(local, agency["domain"], name, agency["id"], weighted_quota(rng))

    provincial = [a for a in agency_list if a["tier"] == "province"]
    remaining = MAILBOXES - len(boxes)
    weights = [rng.uniform(0.5, 1.5) for _ in provincial]
    shares = [int(remaining * w / sum(weights)) for w in weights]
    shares[0] += remaining - sum(shares)
    for agency, share in zip(provincial, shares, strict=True):
        for n in range(share):
            name, local = person(rng)
            size = "5G" if n < 3 else weighted_quota(rng)
            add(local, agency["domain"], name, agency["id"], size)

    names = {agency["id"]: agency["name"] for agency in agency_list}
    aliases = mail_aliases(boxes, domains, functional, names)
    return mail_domains, boxes, aliases


def weighted_quota(rng: random.Random) -> str:
    return rng.choices([q for q, _ in QUOTAS], weights=[w for _, w in QUOTAS])[0]


def mail_aliases(
    boxes: list[dict[str, Any]],
    domains: Mapping[str, str],
    functional: Mapping[str, list[str]],
    names: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Per agency: lanhdao@ (its first three people) and vanthu@; per district: xa@ (the
    communes' clerks); for the province: giamdoc-so@ (every department's lanhdao@)."""
    by_agency: dict[str, list[dict[str, Any]]] = {}
    for box in boxes:
        if "." not in box["address"].split("@")[0] and box.get("state") != "disabled":
            by_agency.setdefault(box["agency"], []).append(box)
    aliases: list[dict[str, Any]] = []
    leaders: list[str] = []
    for domain, agency in domains.items():
        people = by_agency.get(agency, [])
        if len(people) < 4:
            continue
        lanhdao = f"lanhdao@{domain}"
        aliases.append(
            {
                "address": lanhdao,
                "to": [b["address"] for b in people[:3]],
                "agency": agency,
                "description": f"Lãnh đạo - {names[agency]}",
            }
        )
        aliases.append(
            {
                "address": f"vanthu@{domain}",
                "to": [people[3]["address"]],
                "agency": agency,
                "description": f"Văn thư - {names[agency]}",
            }
        )
        if agency.startswith(("so-", "thanh-tra", "bql-")):
            leaders.append(lanhdao)
        clerks = [a for a in functional.get(domain, []) if a.startswith("vanthu.")]
        if clerks:
            aliases.append(
                {
                    "address": f"xa@{domain}",
                    "to": clerks,
                    "agency": agency,
                    "description": f"Văn thư các xã, phường, thị trấn - {names[agency]}",
                }
            )
    aliases.append(
        {
            "address": f"giamdoc-so@{DOMAIN}",
            "to": leaders,
            "agency": "vp-ubnd-tinh",
            "description": "Lãnh đạo các sở, ban, ngành tỉnh",
        }
    )
    return aliases


def database_sections() -> tuple[list[str], list[str]]:
    roles = [
        {"name": n, "groups": g, **({"databases": b} if b else {}), "description": d}
        for n, g, b, d in ROLES
    ]
    databases = [{"name": n, "owner": o, "description": d} for n, o, d in DATABASES]
    return yaml_list("postgresql_roles", roles), yaml_list("postgresql_databases", databases)


DATABASES_HEADER = [
    "The shared PostgreSQL databases and the roles that reach them.",
    "postgresql_roles: name, groups (inventory groups whose hosts connect as the role; empty for",
    "an owner nobody logs in as), databases (those it reads and writes), description.",
    "postgresql_databases: name, owner, description.",
    "Generated by tools/gen_thaibinh.py; edit the generator, not this file.",
]


def render() -> dict[Path, str]:
    """Every generated file and its content."""
    rng = random.Random(SEED)
    commune_rows = commune_list(rng)
    agency_list = agencies(commune_rows)
    mail_domains, boxes, aliases = mail(rng, agency_list, commune_rows)
    tiers = {t: sum(a["tier"] == t for a in agency_list) for t in ("province", "district")}
    communes_count = len(agency_list) - sum(tiers.values())
    return {
        THAIBINH / "agencies.yml": document(
            [
                "Organisations of Thái Bình on the inter-agency e-office: "
                f"{tiers['province']} provincial, {tiers['district']} district-level and "
                f"{communes_count} commune-level.",
                "Keys: id (slug), name, tier (province|district|commune), parent (id), "
                "domain (mail domain).",
                "Commune names are synthetic.",
                "Generated by tools/gen_thaibinh.py; edit the generator, not this file.",
            ],
            yaml_list("pdic_agencies", agency_list),
        ),
        THAIBINH / "portal.yml": document(
            [
                "The component portals of the provincial portal: name, hostname, agency, title.",
                "Generated by tools/gen_thaibinh.py; edit the generator, not this file.",
            ],
            yaml_list("portal_sites", portal_sites(agency_list)),
        ),
        THAIBINH / "mail.yml": document(
            [
                f"Mail of the province: {len(mail_domains)} domains, {len(boxes)} mailboxes, "
                f"{len(aliases)} aliases.",
                "mail_domains: name, agency, host (the mail host that keeps its mailboxes).",
                "mail_mailboxes: address, name, agency, quota (a whole number and K, M, G or T),",
                "state (active or disabled; default active).",
                "mail_aliases: address, to (mailboxes, aliases or external addresses), "
                "agency, description.",
                "People's names are synthetic.",
                "Generated by tools/gen_thaibinh.py; edit the generator, not this file.",
            ],
            yaml_list("mail_domains", mail_domains),
            yaml_list("mail_mailboxes", boxes),
            yaml_list("mail_aliases", aliases),
        ),
        THAIBINH / "databases.yml": document(DATABASES_HEADER, *database_sections()),
        LAB / "databases.yml": document(DATABASES_HEADER, *database_sections()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, content in render().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    for path in stale:
        print(f"{'out of date' if args.check else 'wrote'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
