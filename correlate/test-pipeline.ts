// A pipeline routing `event.dataset: test.events` to the Sigma logsource `product: test`, fields as they
// are: the correlate role's tests load it beside their rules.
export const TEST_ROUTE_PIPELINE = `name: test-route
description: routes the test events
routes:
  - logsource: {product: test}
    when: {event.dataset: test.events}
fields:
  - logsource: {product: test}
    fallback: ['{field}']
    map: {}
`;

/** A detection rule for the test route: `message` contains `word`, ATT&CK execution (T1059). */
export function testRule(id: string, word: string, level = "high"): string {
  return `title: Test rule ${word}
id: ${id}
status: test
author: test
tags: [attack.execution, attack.t1059]
logsource: {product: test}
detection:
  selection:
    message|contains: '${word}'
  condition: selection
level: ${level}
`;
}
