SELECT warehouse, typeof(warehouse), sku, typeof(sku), qty, typeof(qty) FROM stock ORDER BY warehouse, sku;
SELECT group_concat(name || ':' || pk, ',') FROM pragma_table_info('stock') WHERE pk > 0;
SELECT origin, "unique" FROM pragma_index_list('stock');
