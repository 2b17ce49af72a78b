SELECT id, typeof(id), v, typeof(v), u, typeof(u) FROM n ORDER BY id;
