/** An optional language model that reads a message and names the characteristics it explicitly mentions. */
export interface CharacteristicsModel {
  /** Values only for `fields` the message states; never guesses. Throws when the model cannot be reached or answers nonsense. */
  extract(message: { from: string | null; subject: string; body: string }, fields: readonly string[]): Promise<Record<string, string>>;
}
