SELECT group_concat(name, ',') FROM pragma_table_info('items');
SELECT id, name, typeof(name) FROM items ORDER BY id;
