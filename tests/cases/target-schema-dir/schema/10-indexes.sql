CREATE INDEX items_price ON items(price);
CREATE VIEW expensive AS SELECT * FROM items WHERE price > 15;
