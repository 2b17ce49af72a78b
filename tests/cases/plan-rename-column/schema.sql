CREATE TABLE items(id INTEGER PRIMARY KEY, title TEXT, category TEXT, price_cents INTEGER);
