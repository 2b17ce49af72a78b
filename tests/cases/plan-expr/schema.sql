CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, slug TEXT, price REAL, name_len INTEGER);
