/** Placeholder until the page is written. */
export function ErpSettings() {
  return <section><h1>ErpSettings</h1></section>;
}
