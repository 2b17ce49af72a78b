SELECT id, name, currency, typeof(currency), stock, typeof(stock), note, typeof(note) FROM items ORDER BY id;
