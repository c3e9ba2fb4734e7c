import type { CharacteristicsModel } from '../../app/ports/model.ts';
import type { EgressClient } from '../egress/egress-client.ts';

const INSTRUCTIONS = [
  'You extract customer data from an email sent to a customer service.',
  'Answer with one JSON object whose keys are among the requested fields and whose values are strings exactly as written in the email.',
  'Only include a field when the customer explicitly states it in their own text. Ignore quoted earlier messages, forwarded history and the company\'s own data.',
  'Never guess, never complete a value, never include amounts, dates or meter readings as identifiers. Answer {} when nothing is stated.',
].join(' ');

/**
 * Any OpenAI-compatible chat completions endpoint (OpenAI, Azure, vLLM, Ollama, LM Studio …),
 * reached through the egress guard like every other outbound call.
 */
export class OpenAiCompatibleModel implements CharacteristicsModel {
  constructor(private readonly options: { url: string; model: string; apiKey: string | null; egress: EgressClient; timeoutMs?: number }) {}

  async extract(message: { from: string | null; subject: string; body: string }, fields: readonly string[]): Promise<Record<string, string>> {
    const body = JSON.stringify({
      model: this.options.model,
      temperature: 0,
      response_format: { type: 'json_object' },
      messages: [
        { role: 'system', content: `${INSTRUCTIONS} Requested fields: ${fields.join(', ')}.` },
        { role: 'user', content: `From: ${message.from ?? 'unknown'}\nSubject: ${message.subject}\n\n${message.body.slice(0, 20_000)}` },
      ],
    });
    const response = await this.options.egress.request({
      url: `${this.options.url.replace(/\/+$/, '')}/chat/completions`, method: 'POST', body,
      headers: { 'content-type': 'application/json', ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}) },
      timeoutMs: this.options.timeoutMs ?? 20_000,
    });
    if (response.status !== 200) throw new Error(`the model answered ${response.status}: ${response.body.toString('utf8').slice(0, 200)}`);
    const content = (JSON.parse(response.body.toString('utf8')) as { choices?: Array<{ message?: { content?: string } }> }).choices?.[0]?.message?.content;
    if (typeof content !== 'string') throw new Error('the model\'s answer has no message content');
    const parsed = JSON.parse(content.replace(/^```(?:json)?\s*|\s*```$/g, '')) as Record<string, unknown>;
    const out: Record<string, string> = {};
    for (const field of fields) {
      const v = parsed[field];
      if ((typeof v === 'string' && v.trim()) || typeof v === 'number') out[field] = String(v).trim();
    }
    return out;
  }
}
