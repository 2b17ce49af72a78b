SELECT id, name, slug, typeof(slug), price, typeof(price), name_len, typeof(name_len) FROM items ORDER BY id;
