SELECT code, name FROM countries ORDER BY code;
SELECT id, name, country, typeof(country) FROM customers ORDER BY id;
SELECT id, customer_id, typeof(customer_id), total, typeof(total) FROM orders ORDER BY id;
SELECT count(*) FROM pragma_foreign_key_check;
