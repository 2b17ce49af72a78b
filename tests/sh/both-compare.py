#!/usr/bin/env python3
"""both-compare.py - the independent check of ferry sync --both-ways (not ferry verify): the
old version's items, users and pairs against the new version's products, users and pairs
(tests/sh/both-lib.sh's plan: name is title, the rest as it is), with plain SQL on each engine;
prints "equal", or the first differences and the counts.

usage: both-compare.py OLD NEW    each "sqlite:PATH" or a postgresql:// URL
"""
import sys, sqlite3
def connect(u):
    if u.startswith("sqlite:"): return sqlite3.connect(u[7:])
    import psycopg2; return psycopg2.connect(u)
def rows(c, q):
    cur=c.cursor(); cur.execute(q); return cur.fetchall()
def norm(v):
    if isinstance(v,float): return round(v,4)
    if isinstance(v,(bytes,bytearray,memoryview)): return bytes(v).hex()
    return v
o, n = connect(sys.argv[1]), connect(sys.argv[2])
e={}; a={}
for r in rows(o,"SELECT id,name,price,qty,cat FROM items"): e[("p",r[0])]=tuple(map(norm,r[1:]))
for r in rows(n,"SELECT id,title,price,qty,cat FROM products"): a[("p",r[0])]=tuple(map(norm,r[1:]))
for r in rows(o,"SELECT id,email,score FROM users"): e[("u",r[0])]=tuple(map(norm,r[1:]))
for r in rows(n,"SELECT id,email,score FROM users"): a[("u",r[0])]=tuple(map(norm,r[1:]))
for r in rows(o,"SELECT a,b,v FROM pairs"): e[("x",r[0],r[1])]=(norm(r[2]),)
for r in rows(n,"SELECT a,b,v FROM pairs"): a[("x",r[0],r[1])]=(norm(r[2]),)
d=[k for k in set(e)|set(a) if e.get(k)!=a.get(k)]
if d:
    d.sort(key=repr); print("%d differences (old %d rows, new %d); first: %s" % (len(d),len(e),len(a)," | ".join("%r: old %r new %r"%(k,e.get(k),a.get(k)) for k in d[:4])))
else: print("equal")
