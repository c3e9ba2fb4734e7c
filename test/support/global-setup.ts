import pg from 'pg';

/**
 * Each PostgreSQL test works in a schema of its own (`t_<random>`). They are dropped here, once
 * no test runs any more: dropping one while another test's migrator lists every schema's tables
 * makes that listing fail.
 */
async function dropTestSchemas(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ nspname: string }>(`select nspname from pg_namespace where nspname ~ '^t_[0-9a-f]{12}$'`);
    for (const { nspname } of rows) await client.query(`drop schema if exists ${nspname} cascade`);
  } finally {
    await client.end();
  }
}

export async function setup(): Promise<() => Promise<void>> {
  await dropTestSchemas();
  return dropTestSchemas;
}
