/** Placeholder until the page is written. */
export function Inbox() {
  return <section><h1>Inbox</h1></section>;
}
