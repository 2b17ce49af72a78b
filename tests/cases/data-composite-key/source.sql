CREATE TABLE stock(warehouse TEXT, sku INTEGER, qty INTEGER NOT NULL, PRIMARY KEY (warehouse, sku));
INSERT INTO stock VALUES ('east', 1, 10), ('east', 2, 0), ('west', 1, 5), ('west', 2, -3), ('', 0, 1);
