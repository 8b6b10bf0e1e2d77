"""Synthetic patients and hospitals: names, checksum-valid 18-digit ID numbers, addresses."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits."""
    total = sum(int(ch) * w for ch, w in zip(first17, ID_WEIGHTS))
    return ID_CHECK[total % 11]


def id_number_valid(value: str) -> bool:
    return len(value) == 18 and value[:17].isdigit() and id_check_digit(value[:17]) == value[17].upper()


@dataclass(frozen=True)
class Hospital:
    id: str  # folder name, e.g. H01
    number: int
    name: str
    level: str  # 一级 / 二级 / 三级


@dataclass(frozen=True)
class Person:
    name: str
    sex: str  # 男 / 女
    birth: date
    id_number: str
    county: str
    address: str
    occupation: str
    ethnicity: str
    phone: str


LEVELS = {"一级": 1, "二级": 2, "三级": 3}
# 险种 → how the 病案首页 (医疗付费方式) and the claims export (险种类型) write it
INSURANCE_LABELS = {"职工": "城镇职工基本医疗保险", "居民": "城乡居民基本医疗保险", "工伤": "工伤保险", "生育": "生育保险"}
RESIDENT_OCCUPATIONS = ("农民", "学生", "散居儿童", "无业")


def insurance_of(person: "Person") -> str:
    """The scheme a patient is insured under: 城乡居民 for farmers, students, children and the unemployed."""
    return "居民" if person.occupation in RESIDENT_OCCUPATIONS else "职工"


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def make_hospitals(cat, count: int) -> list[Hospital]:
    pool = cat.people["hospitals"]
    out = []
    for i in range(count):
        spec = pool[i % len(pool)]
        name = spec["name"] if i < len(pool) else f"{spec['name']}第{i // len(pool) + 1}分院"
        out.append(Hospital(id=f"H{i + 1:02d}", number=i + 1, name=name, level=spec["level"]))
    return out


def make_person(rng: random.Random, cat, *, sex: str, age: int, on: date) -> Person:
    ppl = cat.people
    surname = rng.choice(ppl["surnames"])
    given = rng.choice(ppl["given_male"] if sex == "男" else ppl["given_female"])
    anniversary = date(on.year - age, on.month, min(on.day, 28))
    birth = anniversary - timedelta(days=rng.randint(0, 360))
    area = rng.choice(ppl["areas"])
    seq = rng.randint(0, 99) * 10 + (rng.choice((1, 3, 5, 7, 9)) if sex == "男" else rng.choice((0, 2, 4, 6, 8)))
    first17 = f"{area['code']}{birth:%Y%m%d}{seq:03d}"
    town = rng.choice(area["towns"])
    address = f"{area['county']}{town}{rng.choice(ppl['villages'])}{rng.randint(1, 60)}号"
    occupation = "学生" if age < 18 else ("退休" if age > 62 and rng.random() < 0.5 else rng.choice(ppl["occupations"]))
    if age < 7:
        occupation = "散居儿童"
    return Person(
        name=surname + given,
        sex=sex,
        birth=birth,
        id_number=first17 + id_check_digit(first17),
        county=area["county"],
        address=address,
        occupation=occupation,
        ethnicity=rng.choice(ppl["ethnicities"]),
        phone=f"1{rng.choice('3578')}{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}",
    )
