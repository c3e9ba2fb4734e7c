/** Placeholder until the page is written. */
export function CustomerPage(_props: { id: string }) {
  return <section><h1>CustomerPage</h1></section>;
}
