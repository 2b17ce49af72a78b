#!/usr/bin/env python3
"""writer.py - the random application of the online tests: inserts, updates, deletes, key
updates and REPLACE evictions against the sync test schema (tests/sh/sync-lib.sh), in small
transactions, for a bounded time or count, then stops by itself.

usage: writer.py sqlite PATH | postgres URL  --seconds S [--seed N] [--rate W] [--ops N]
           [--log FILE]
--log appends one line per committed transaction ("ok <op> <table> <key>"), so a test can
check that every write the application saw succeed is in the version live at the end.
"""
import argparse
import random
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("engine", choices=["sqlite", "postgres"])
p.add_argument("db")
p.add_argument("--seconds", type=float, default=3.0)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--rate", type=float, default=0.0, help="transactions per second, 0: flat out")
p.add_argument("--ops", type=int, default=0, help="stop after this many transactions")
p.add_argument("--log")
p.add_argument("--new", action="store_true",
               help="write the new version (sync-lib.sh's v2.sql) as its application would: "
                    "items are products, total = price * qty, status 'new', qty >= 0")
p.add_argument("--ids", help="LO:HI: items (products) keys only in [LO, HI): two writers on two "
                                "versions with disjoint or with the same ranges (ferry sync --both-ways)")
p.add_argument("--only", choices=["items"], help="write items (products) only")
a = p.parse_args()
IDS = tuple(int(float(x)) for x in a.ids.split(":")) if a.ids else None
rnd = random.Random(a.seed)

if a.engine == "sqlite":
    import sqlite3
    con = sqlite3.connect(a.db, timeout=30, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 30000")
    PH = "?"
else:
    import psycopg2
    con = psycopg2.connect(a.db)
    con.autocommit = True
    PH = "%s"


def q(sql):
    return sql.replace("?", PH)


class Fenced(Exception):
    pass


def run(stmts):
    """Run (sql, args) pairs in one transaction; retry when the database is busy."""
    for attempt in range(50):
        cur = con.cursor()
        try:
            cur.execute("BEGIN")
            for sql, args in stmts:
                cur.execute(q(sql), args)
            cur.execute("COMMIT")
            return True
        except Exception as e:  # busy, or a unique clash of the random data: try again
            try:
                cur.execute("ROLLBACK")
            except Exception:
                pass
            msg = str(e).lower()
            if "locked" in msg or "busy" in msg or "deadlock" in msg or "serializ" in msg:
                time.sleep(0.01 * (attempt + 1))
                continue
            if "unique" in msg or "duplicate" in msg:
                return False
            if "read-only now" in msg:  # a cut-over or rollback fenced this version: stop
                raise Fenced(str(e))
            raise
    return False


def one(sql, args=()):
    cur = con.cursor()
    cur.execute(q(sql), args)
    r = cur.fetchone()
    return r[0] if r else None


log = open(a.log, "a") if a.log else None
NAMES = ["alpha", "beta", "gamma", "delta", "épsilon", "zeta", "eta's", 'the "theta"']
CATS = ["book", "film", "game", None]


def item_row(i):
    return (i, rnd.choice(NAMES) + " " + str(rnd.randrange(1000)), round(rnd.uniform(0, 99), 2),
            rnd.randrange(-3, 20), "s%d" % rnd.randrange(100), rnd.choice(CATS))


def some_id(table, col="id"):
    hi = one("SELECT max(%s) FROM %s" % (col, table)) or 0
    return rnd.randrange(1, hi + 2) if hi else 1


def ranged_id(table):
    """An existing key of table in --ids, or a fresh one in it."""
    lo, hi = IDS
    n = one("SELECT count(*) FROM %s WHERE id >= %d AND id < %d" % (table, lo, hi)) or 0
    if n == 0 or rnd.random() < 0.3:
        return rnd.randrange(lo, hi)
    return one("SELECT id FROM %s WHERE id >= %d AND id < %d ORDER BY id LIMIT 1 OFFSET %d"
               % (table, lo, hi, rnd.randrange(n)))


def op_ranged():
    """--ids: the mix on items (products) with every key in the range."""
    table = "products" if a.new else "items"
    k = rnd.random()
    lo, hi = IDS
    if a.new:
        price, qty = round(rnd.uniform(0, 99), 2), rnd.randrange(0, 20)
        row = lambda i: (i, rnd.choice(NAMES) + " " + str(rnd.randrange(1000)), price, qty,
                         rnd.choice(CATS), price * qty)
        ins = "INSERT INTO products(id, title, price, qty, cat, total, status) VALUES (?, ?, ?, ?, ?, ?, 'new')"
        upd = ("UPDATE products SET price = ?, qty = ?, title = ?, total = ? WHERE id = ?",
               lambda i: (price, qty, rnd.choice(NAMES), price * qty, i))
    else:
        row = item_row
        ins = "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)"
        upd = ("UPDATE items SET price = ?, qty = ?, name = ? WHERE id = ?",
               lambda i: (round(rnd.uniform(0, 99), 2), rnd.randrange(0, 20), rnd.choice(NAMES), i))
    if k < 0.3:
        i = rnd.randrange(lo, hi)
        return "insert", table, i, [(ins, row(i))]
    i = ranged_id(table)
    if k < 0.7:
        return "update", table, i, [(upd[0], upd[1](i))]
    if k < 0.8:
        j = rnd.randrange(lo, hi)
        return "rekey", table, j, [("UPDATE %s SET id = ? WHERE id = ?" % table, (j, i))]
    return "delete", table, i, [("DELETE FROM %s WHERE id = ?" % table, (i,))]


def op_items():
    if IDS:
        return op_ranged()
    if a.new:
        return op_products()
    k = rnd.random()
    if k < 0.35:
        i = (one("SELECT max(id) FROM items") or 0) + 1 + rnd.randrange(3)
        return "insert", "items", i, [("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", item_row(i))]
    i = some_id("items")
    if k < 0.65:
        return "update", "items", i, [("UPDATE items SET price = ?, qty = ?, name = ? WHERE id = ?",
                                       (round(rnd.uniform(0, 99), 2), rnd.randrange(-3, 20),
                                        rnd.choice(NAMES), i))]
    if k < 0.75:
        j = (one("SELECT max(id) FROM items") or 0) + 1000 + rnd.randrange(1000)
        return "rekey", "items", j, [("UPDATE items SET id = ? WHERE id = ?", (j, i))]
    if k < 0.85:
        return "delete", "items", i, [("DELETE FROM items WHERE id = ?", (i,))]
    if k < 0.90:
        return "delete-max", "items", 0, [("DELETE FROM items WHERE id = (SELECT max(id) FROM items)", ())]
    # A transaction of several statements.
    j = (one("SELECT max(id) FROM items") or 0) + 1
    return "multi", "items", j, [("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", item_row(j)),
                                 ("UPDATE items SET qty = qty + 1 WHERE id = ?", (i,)),
                                 ("DELETE FROM items WHERE id = ?", (some_id("items"),))]


def product_row(i):
    price, qty = round(rnd.uniform(0, 99), 2), rnd.randrange(0, 20)
    return (i, rnd.choice(NAMES) + " " + str(rnd.randrange(1000)), price, qty, rnd.choice(CATS),
            price * qty)


def some_product():
    """An existing product's key (its keys are spread over two ranges), or 1."""
    n = one("SELECT count(*) FROM products") or 0
    if n == 0:
        return 1
    return one("SELECT id FROM products ORDER BY id LIMIT 1 OFFSET %d" % rnd.randrange(n))


def new_id():
    """A key of the new version's own range: rows the plan's where never carried keep their
    keys in the old version, and the way back refuses a new row under such a key."""
    return 2 * 10**12 + rnd.randrange(10**9)


def op_products():
    """The new version's application: the same mix on products, keeping the plan's rules."""
    k = rnd.random()
    ins = "INSERT INTO products(id, title, price, qty, cat, total, status) VALUES (?, ?, ?, ?, ?, ?, 'new')"
    if k < 0.35:
        i = new_id()
        return "insert", "products", i, [(ins, product_row(i))]
    i = some_product()
    if k < 0.65:
        price, qty = round(rnd.uniform(0, 99), 2), rnd.randrange(0, 20)
        return "update", "products", i, [("UPDATE products SET price = ?, qty = ?, title = ?, total = ? WHERE id = ?",
                                          (price, qty, rnd.choice(NAMES), price * qty, i))]
    if k < 0.75:
        j = new_id()
        return "rekey", "products", j, [("UPDATE products SET id = ? WHERE id = ?", (j, i))]
    if k < 0.90:
        return "delete", "products", i, [("DELETE FROM products WHERE id = ?", (i,))]
    j = new_id()
    return "multi", "products", j, [(ins, product_row(j)),
                                    ("DELETE FROM products WHERE id = ?", (some_product(),))]


def op_users():
    k = rnd.random()
    email = "u%d@example.org" % rnd.randrange(400)
    if k < 0.4:
        if a.engine == "sqlite":  # evicts whichever row held the email or the id
            i = some_id("users")
            return "replace", "users", i, [("INSERT OR REPLACE INTO users VALUES (?, ?, ?)",
                                            (i, email, rnd.randrange(100)))]
        i = some_id("users")
        return "upsert", "users", i, [("INSERT INTO users VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE "
                                       "SET email = excluded.email, score = excluded.score",
                                       (i, email, rnd.randrange(100)))]
    i = some_id("users")
    if k < 0.7:
        return "update", "users", i, [("UPDATE users SET score = ? WHERE id = ?", (rnd.randrange(100), i))]
    return "delete", "users", i, [("DELETE FROM users WHERE id = ?", (i,))]


def op_pairs():
    k = rnd.random()
    key = (rnd.choice(["a", "b", "ç", "d d"]), rnd.randrange(30))
    blob = bytes(rnd.randrange(256) for _ in range(rnd.randrange(8)))
    if a.engine == "postgres":
        blob = psycopg2.Binary(blob)
    if k < 0.5:
        if a.engine == "sqlite":
            return "replace", "pairs", key, [("REPLACE INTO pairs VALUES (?, ?, ?)", key + (blob,))]
        return "upsert", "pairs", key, [("INSERT INTO pairs VALUES (?, ?, ?) ON CONFLICT (a, b) DO UPDATE "
                                         "SET v = excluded.v", key + (blob,))]
    if k < 0.75:
        return "rekey", "pairs", key, [("UPDATE pairs SET b = b + 100 WHERE a = ? AND b = ?", key)]
    return "delete", "pairs", key, [("DELETE FROM pairs WHERE a = ? AND b = ?", key)]


end = time.time() + a.seconds
n = 0
fenced = None
while time.time() < end and (a.ops == 0 or n < a.ops):
    ops = [op_items] if a.only else [op_items, op_items, op_users, op_pairs]
    kind, table, key, stmts = rnd.choice(ops)()
    try:
        done = run(stmts)
    except Fenced as e:
        fenced = e
        break
    if done and log:
        log.write("ok %s %s %s\n" % (kind, table, key))
    n += 1
    if a.rate > 0:
        time.sleep(1.0 / a.rate)
if log:
    log.close()
print(n)
if fenced:
    print("fenced: " + str(fenced).strip().splitlines()[0], file=sys.stderr)
