/** Placeholder until the page is written. */
export function EmailAccounts() {
  return <section><h1>EmailAccounts</h1></section>;
}
