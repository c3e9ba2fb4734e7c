import { sql, type Kysely } from 'kysely';
import type { ErpStore, SettingsStore } from '../../../app/ports/store.ts';
import type { Characteristics, Contract, Customer } from '../../../domain/erp.ts';
import type { DialectKind } from '../dialect.ts';
import type { Database } from '../schema.ts';
import { json, toJson } from '../values.ts';

/** Every text and number in a record (nested addresses included), for the full-text index. */
function searchText(record: Record<string, unknown>): string {
  const out: string[] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth > 3 || v === null || v === undefined) return;
    if (typeof v === 'string' || typeof v === 'number') {
      out.push(String(v));
      // Numbers written in groups (IBAN, meter numbers) are also found written together.
      if (typeof v === 'string' && /\d/.test(v) && /\s/.test(v.trim())) out.push(v.replace(/\s+/g, ''));
    }
    else if (Array.isArray(v)) v.forEach((x) => walk(x, depth + 1));
    else if (typeof v === 'object') Object.entries(v as Record<string, unknown>).forEach(([k, x]) => { if (k !== 'erpUrls' && k !== 'agentPreview') walk(x, depth + 1); });
  };
  walk(record, 0);
  // Both spellings a German agent types: "Müller" is found by "muller" and by "mueller".
  const text = out.join(' ').toLowerCase();
  const german = text.replace(/ä/g, 'ae').replace(/ö/g, 'oe').replace(/ü/g, 'ue').replace(/ß/g, 'ss');
  return [...new Set(`${fold(text)} ${fold(german)}`.split(/\s+/))].join(' ');
}

/** Lower case without diacritics, so both databases match alike (PostgreSQL's `simple` configuration keeps accents). */
function fold(text: string): string {
  return text.normalize('NFD').replace(/\p{M}+/gu, '').replace(/ß/g, 'ss').toLowerCase();
}

/** The words of a query, as the index holds them (letters and digits, folded). */
function words(q: string): string[] {
  return (fold(q.normalize('NFKC')).match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, 12);
}

const lower = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim().toLowerCase() : null);

export class SettingsRepo implements SettingsStore {
  constructor(private readonly db: Kysely<Database>) {}

  async get<T>(key: string): Promise<T | null> {
    const r = await this.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
    return r ? json<T>(r.value) : null;
  }

  async put(key: string, value: unknown, at: string): Promise<void> {
    await this.db.insertInto('settings').values({ key, value: toJson(value), modified_at: at })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: toJson(value), modified_at: at })).execute();
  }
}

export class ErpRepo implements ErpStore {
  constructor(private readonly db: Kysely<Database>, private readonly kind: DialectKind) {}

  async getContract(id: string): Promise<Contract | null> {
    const r = await this.db.selectFrom('erp_contracts').select('data').where('id', '=', id).executeTakeFirst();
    return r ? json<Contract>(r.data) : null;
  }

  async getCustomer(id: string): Promise<Customer | null> {
    const r = await this.db.selectFrom('erp_customers').select('data').where('id', '=', id).executeTakeFirst();
    return r ? json<Customer>(r.data) : null;
  }

  private async index(kind: 'contract' | 'customer', id: string, record: Record<string, unknown> | null): Promise<void> {
    await this.db.deleteFrom('erp_search').where('kind', '=', kind).where('record_id', '=', id).execute();
    if (record) await this.db.insertInto('erp_search').values({ kind, record_id: id, text: searchText(record) }).execute();
  }

  async putContract(c: Contract, at: string): Promise<void> {
    const row = { customer_id: c.customerId, email: lower(c.email), data: toJson(c), modified_at: at };
    await this.db.insertInto('erp_contracts').values({ id: c.id, ...row }).onConflict((oc) => oc.column('id').doUpdateSet(row)).execute();
    await this.index('contract', c.id, c);
  }

  async putCustomer(c: Customer, at: string): Promise<void> {
    const row = { email: lower(c.email), data: toJson(c), modified_at: at };
    await this.db.insertInto('erp_customers').values({ id: c.id, ...row }).onConflict((oc) => oc.column('id').doUpdateSet(row)).execute();
    await this.index('customer', c.id, c);
  }

  async deleteContract(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('erp_contracts').where('id', '=', id).executeTakeFirst();
    await this.index('contract', id, null);
    return Number(r.numDeletedRows) > 0;
  }

  async deleteCustomer(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('erp_customers').where('id', '=', id).executeTakeFirst();
    await this.index('customer', id, null);
    return Number(r.numDeletedRows) > 0;
  }

  /** Ids of records of `kind` whose text contains every word (as a prefix when `prefix`). */
  private async match(kind: 'contract' | 'customer', ws: string[], limit: number, offset: number, prefix: boolean): Promise<string[]> {
    if (!ws.length) return [];
    if (this.kind === 'postgres') {
      const query = ws.map((w) => (prefix ? `${w}:*` : w)).join(' & ');
      const rows = await sql<{ record_id: string }>`SELECT record_id FROM erp_search WHERE kind = ${kind} AND tsv @@ to_tsquery('simple', ${query})
        ORDER BY ts_rank(tsv, to_tsquery('simple', ${query})) DESC, record_id LIMIT ${limit} OFFSET ${offset}`.execute(this.db);
      return rows.rows.map((r) => r.record_id);
    }
    const query = ws.map((w) => `"${w}"${prefix ? '*' : ''}`).join(' ');
    const rows = await sql<{ record_id: string }>`SELECT record_id FROM erp_search WHERE kind = ${kind} AND erp_search MATCH ${query}
      ORDER BY rank, record_id LIMIT ${limit} OFFSET ${offset}`.execute(this.db);
    return rows.rows.map((r) => r.record_id);
  }

  private async contracts(ids: string[]): Promise<Contract[]> {
    if (!ids.length) return [];
    const rows = await this.db.selectFrom('erp_contracts').select('data').where('id', 'in', ids).orderBy('id').execute();
    return rows.map((r) => json<Contract>(r.data));
  }

  async findContracts(ch: Characteristics): Promise<Contract[]> {
    if (ch.contractId) {
      const c = await this.getContract(ch.contractId);
      if (c) return [c];
    }
    if (ch.customerId) {
      const rows = await this.db.selectFrom('erp_contracts').select('id').where('customer_id', '=', ch.customerId).orderBy('id').limit(2).execute();
      if (rows.length) return this.contracts(rows.map((r) => r.id));
    }
    const email = lower(ch.email);
    if (email) {
      const direct = await this.db.selectFrom('erp_contracts').select('id').where('email', '=', email).limit(2).execute();
      const viaCustomer = await this.db.selectFrom('erp_contracts').innerJoin('erp_customers', 'erp_customers.id', 'erp_contracts.customer_id')
        .select('erp_contracts.id').where('erp_customers.email', '=', email).limit(2).execute();
      const ids = [...new Set([...direct, ...viaCustomer].map((r) => r.id))].slice(0, 2);
      if (ids.length) return this.contracts(ids);
    }
    for (const key of ['meterNumber', 'iban'] as const) {
      const value = ch[key]?.replace(/\s+/g, '');
      if (value) {
        const ids = await this.match('contract', words(value), 2, 0, false);
        if (ids.length) return this.contracts(ids);
      }
    }
    // A name alone is not specific enough: it needs a second detail of the address or the first name.
    const name = ch.company ?? ch.lastname;
    const detail = [ch.postalCode, ch.city, ch.street, ch.firstname].filter((v): v is string => !!v);
    if (name && detail.length) {
      const ids = await this.match('contract', words([name, ...detail].join(' ')), 2, 0, false);
      if (ids.length) return this.contracts(ids);
    }
    return [];
  }

  async searchCustomers(q: string, limit: number, offset: number): Promise<string[]> {
    return this.match('customer', words(q), limit, offset, true);
  }

  async counts(): Promise<{ contracts: number; customers: number }> {
    const [a, b] = await Promise.all([
      this.db.selectFrom('erp_contracts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
      this.db.selectFrom('erp_customers').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { contracts: Number(a.n), customers: Number(b.n) };
  }
}
