#!/usr/bin/env python3
"""sync-compare.py - the online tests' independent check (not ferry verify): read the source
through the sync test plan's rules (tests/sh/sync-lib.sh) and the target as it is, with plain
SQL on each engine, and print "equal", or the first differences and the counts.

usage: sync-compare.py SRC TARGET    each "sqlite:PATH" or a postgresql:// URL
"""
import sys


def connect(url):
    if url.startswith("sqlite:"):
        import sqlite3
        return sqlite3.connect(url[len("sqlite:"):])
    import psycopg2
    return psycopg2.connect(url)


def rows(con, sql):
    cur = con.cursor()
    cur.execute(sql)
    return cur.fetchall()


def norm(v):
    if v is None:
        return None
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return v


src, dst = connect(sys.argv[1]), connect(sys.argv[2])
expect = {}
for r in rows(src, "SELECT id, name, price, qty, cat FROM items WHERE qty >= 0"):
    i, name, price, qty, cat = r
    total = price * qty if price is not None and qty is not None else None
    expect[("p", i)] = tuple(map(norm, (name, price, qty, cat, total, "new")))
for r in rows(src, "SELECT id, email, score FROM users"):
    expect[("u", r[0])] = tuple(map(norm, r[1:]))
for r in rows(src, "SELECT a, b, v FROM pairs"):
    expect[("x", r[0], r[1])] = (norm(r[2]),)
actual = {}
for r in rows(dst, "SELECT id, title, price, qty, cat, total, status FROM products"):
    actual[("p", r[0])] = tuple(map(norm, r[1:]))
for r in rows(dst, "SELECT id, email, score FROM users"):
    actual[("u", r[0])] = tuple(map(norm, r[1:]))
for r in rows(dst, "SELECT a, b, v FROM pairs"):
    actual[("x", r[0], r[1])] = (norm(r[2]),)

diffs = []
for k in sorted(set(expect) | set(actual), key=repr):
    e, a = expect.get(k), actual.get(k)
    if e != a:
        diffs.append("%r: expected %r, target %r" % (k, e, a))
if diffs:
    print("%d differences (expected %d rows, target %d); first: %s"
          % (len(diffs), len(expect), len(actual), " | ".join(diffs[:5])))
else:
    print("equal")
