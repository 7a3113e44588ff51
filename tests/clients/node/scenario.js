// node-postgres scenario for Ember's client suite: tests/clients/test_node.py runs it and
// checks the JSON it prints. Usage: node scenario.js <host> <port> <employees.csv> <typed query>
const { Client, types } = require('pg');

async function main() {
  const [host, port, csv, typedQuery] = process.argv.slice(2);
  const out = {};
  const client = new Client({ host, port: Number(port), user: 'ember', database: 'ember' });
  await client.connect();
  try {
    await client.query(`CREATE EXTERNAL TABLE IF NOT EXISTS emp_node STORED AS CSV LOCATION '${csv}' OPTIONS ('format.has_header' 'true')`);
    out.count = (await client.query('SELECT count(*) AS n FROM emp_node')).rows[0].n;
    // Parameters go through the extended protocol (unnamed statement)...
    const q = 'SELECT name FROM emp_node WHERE salary > $1 AND active = $2 ORDER BY emp_id';
    out.names = (await client.query(q, [4000.0, true])).rows.map((r) => r.name);
    // ...and a named prepared statement, executed repeatedly.
    out.prepared = [];
    for (let i = 0; i < 3; i++) {
      const res = await client.query({ name: 'paid_over', text: q, values: [1000.0 * i, false] });
      out.prepared.push(res.rows.map((r) => r.name));
    }
    // Every type: node-postgres parses text results; keep raw text for the non-JS types.
    const typed = await client.query({ text: typedQuery, rowMode: 'array' });
    out.typed = {};
    typed.fields.forEach((f, i) => {
      const v = typed.rows[0][i];
      out.typed[f.name] = v instanceof Date ? v.toISOString() : Buffer.isBuffer(v) ? '\\x' + v.toString('hex') : v;
    });
    out.typed_oids = Object.fromEntries(typed.fields.map((f) => [f.name, f.dataTypeID]));
    const params = await client.query('SELECT $1::int8 AS i, $2::numeric AS n, $3::text AS t, $4::bytea AS b, $5::bool AS z, $6::uuid AS u',
      ['1099511627776', '-98765.4321', "it's ünï", Buffer.from([0, 255, 98]), true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']);
    const p = params.rows[0];
    out.params = { i: p.i, n: p.n, t: p.t, b: p.b.toString('hex'), z: p.z, u: p.u };
    try {
      await client.query('SELECT * FROM no_such_table');
      out.error = null;
    } catch (e) {
      out.error = e.code;
    }
    out.after_error = (await client.query('SELECT 2::int4 AS x')).rows[0].x;
    await client.query('BEGIN');
    try { await client.query('SELECT 1/0'); } catch (e) { out.tx_error = e.code; }
    try { await client.query('SELECT 1'); } catch (e) { out.tx_aborted = e.code; }
    await client.query('ROLLBACK');
    out.after_rollback = (await client.query('SELECT 3::int4 AS x')).rows[0].x;
    out.columns = (await client.query(
      "SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position", ['emp_node'])).rows.map((r) => r.column_name);
  } finally {
    await client.end();
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
