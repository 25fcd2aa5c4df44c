// The GraphiQL page: the endpoint comes from #graphiql's data-url, the CSRF token from the page's meta tag.
(function () {
  var root = document.getElementById("graphiql");
  var fetcher = GraphiQL.createFetcher({
    url: root.getAttribute("data-url"),
    headers: {"X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content},
  });
  var example = "{\n  classes(first: 10) {\n    nodes { id name thingCount attributes { name dataType required } }\n  }\n}\n";
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, {fetcher: fetcher, defaultQuery: example}));
})();
