SELECT id, d, typeof(d), f, typeof(f), n, typeof(n), u, typeof(u) FROM m ORDER BY id;
