// Starts Swagger UI on /docs. A file rather than an inline script, so that the page's
// Content-Security-Policy can allow scripts from this origin only.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // The default validator badge sends the document to a third party; the page talks to this server only.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
});
