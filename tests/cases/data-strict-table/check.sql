SELECT name, sql LIKE '%STRICT%' FROM sqlite_schema WHERE name = 's';
SELECT id, i, typeof(i), r, typeof(r), t, typeof(t), quote(b), typeof(b), quote(a), typeof(a) FROM s ORDER BY id;
ATTACH 'source.db' AS src;
SELECT count(*) FROM (SELECT id, i, typeof(i), r, typeof(r), t, typeof(t), b, typeof(b), a, typeof(a) FROM src.s EXCEPT SELECT id, i, typeof(i), r, typeof(r), t, typeof(t), b, typeof(b), a, typeof(a) FROM main.s);
