SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'ferry_%' AND name NOT LIKE 'sqlite_%' ORDER BY name;
SELECT id, name, typeof(name) FROM customers ORDER BY id;
SELECT id, customer_id, typeof(customer_id) FROM purchases;
