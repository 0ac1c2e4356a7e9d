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
