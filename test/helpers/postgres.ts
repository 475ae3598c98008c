import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL the tests use (AGENTSECRETS_TEST_DATABASE_URL, else the local default). */
export const POSTGRES_URL =
  process.env.AGENTSECRETS_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Why PostgreSQL cannot be used here, or undefined when it can. Under CI=true an unreachable
 * server is an error, not a skip: `.ci/run` starts it.
 */
export async function postgresUnavailable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    const reason = `PostgreSQL is not reachable at ${POSTGRES_URL} (${(err as Error).message})`;
    if (process.env.CI === 'true')
      throw new Error(`${reason}; under CI=true it must be running`, { cause: err });
    console.warn(
      `${reason}: the PostgreSQL tests are skipped. Start it with \`pg_ctlcluster <version> main start\` or set AGENTSECRETS_TEST_DATABASE_URL.`,
    );
    return reason;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A new, empty database on the test server; `drop` removes it. */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `agentsecrets_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** Every row of every table in a database, as text: what a leaked dump would hold. */
export async function dumpDatabase(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ schemaname: string; tablename: string }>(
      "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    );
    let dump = '';
    for (const t of tables.rows) {
      const rows = await client.query(`SELECT * FROM "${t.schemaname}"."${t.tablename}"`);
      dump += `${t.tablename}\n${JSON.stringify(rows.rows)}\n`;
    }
    return dump;
  } finally {
    await client.end();
  }
}
