SELECT id, price, typeof(price), label, typeof(label), upper_name, typeof(upper_name) FROM items ORDER BY id;
