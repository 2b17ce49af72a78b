SELECT id, serial, typeof(serial), sales, typeof(sales) FROM machines ORDER BY id;
