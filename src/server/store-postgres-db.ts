import pg from 'pg';
import { AgentSecretsError } from '../core/errors.js';

/** Connections to PostgreSQL: the pool, one statement, a transaction, error mapping. */
/** Runs one statement and returns its rows. */
export type Query = <R>(sql: string, params?: readonly unknown[]) => Promise<R[]>;

// --- connections ----------------------------------------------------------------------------

export function checkSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new AgentSecretsError(
      'usage_error',
      'a PostgreSQL schema name for agentsecrets must be lower-case letters, digits and underscores',
    );
  }
  return schema;
}

export function createPool(url: string, max: number, schema: string | undefined): pg.Pool {
  const timestamptz = pg.types.builtins.TIMESTAMPTZ;
  const parseTimestamp = pg.types.getTypeParser(timestamptz) as (text: string) => Date;
  const pool = new pg.Pool({
    connectionString: url,
    max,
    // A request waits this long for a connection, then fails instead of hanging.
    connectionTimeoutMillis: 10_000,
    // Rows carry timestamps as ISO strings, exactly as the row types say.
    types: {
      getTypeParser: (id, format) =>
        id === timestamptz
          ? (text: string) => parseTimestamp(text).toISOString()
          : pg.types.getTypeParser(id, format),
    },
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  });
  // An idle connection that drops (a database restart) must not crash the server; the next
  // query opens a new one, and fails loudly if the database is still gone.
  pool.on('error', () => undefined);
  return pool;
}

export function queryOn(client: pg.Pool | pg.PoolClient): Query {
  return async <R>(sql: string, params: readonly unknown[] = []): Promise<R[]> => {
    try {
      const result = await client.query(sql, params as unknown[]);
      return result.rows as R[];
    } catch (err) {
      throw databaseError(err);
    }
  };
}

/** Runs `work` in one transaction: committed if it returns, rolled back if it throws. */
export async function transaction<T>(pool: pg.Pool, work: (t: Query) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw databaseError(err);
  }
  const t = queryOn(client);
  try {
    await t('BEGIN');
    const result = await work(t);
    await t('COMMIT');
    client.release();
    return result;
  } catch (err) {
    const broken = await client.query('ROLLBACK').then(
      () => false,
      () => true,
    );
    client.release(broken);
    throw err;
  }
}

/** A database failure, without the driver's message: it may quote row contents. */
export function databaseError(err: unknown): AgentSecretsError {
  if (err instanceof AgentSecretsError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const reason = typeof code === 'string' ? ` (${code})` : '';
  return new AgentSecretsError(
    'internal_error',
    `the PostgreSQL store failed${reason}; check that the database is reachable and see its log`,
    { cause: err },
  );
}

export function first<R>(rows: R[]): R | undefined {
  return rows[0];
}
