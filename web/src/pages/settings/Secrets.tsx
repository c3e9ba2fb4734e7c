/** Placeholder until the page is written. */
export function SecretsPage() {
  return <section><h1>SecretsPage</h1></section>;
}
