SELECT id, price, qty, total, typeof(total) FROM items ORDER BY id;
