"""Web stack: Cognito user pool + app client (flow 1), Amplify app for the Next.js shop (flows 2-3, 6-8).

The repository access token comes from Secrets Manager through a dynamic reference, resolved by
CloudFormation at deploy time: it never appears in the template, parameters or outputs.
"""

from __future__ import annotations

from troposphere import GetAtt, If, NoValue, Parameter, Ref, Sub, Template, amplify, cognito

from stacks.params import BuildParams
from stacks.template import (
    export,
    finish,
    import_from,
    new_template,
    optional_parameter,
    stack_name_parameter,
    standard_tags,
    string_parameter,
    tag_map,
)

STACK = "web"
USER_POOL_SEED_NAME = "SBW_UserPool"


def build(params: BuildParams) -> Template:
    t = new_template("Clickstream web: Cognito user pool and Amplify Hosting app for the Next.js shop")
    ingest = stack_name_parameter(t, params, "ingest")
    pool = _user_pool(t, params)
    client = _app_client(t, params, pool)
    app = _amplify_app(t, params, pool, client, ingest)
    export(t, "UserPoolId", Ref(pool), "Cognito user pool id")
    export(t, "UserPoolClientId", Ref(client), "Cognito app client id (public, no secret)")
    export(t, "AmplifyAppId", GetAtt(app, "AppId"), "Amplify app id")
    export(t, "AmplifyDefaultDomain", GetAtt(app, "DefaultDomain"), "Amplify default domain")
    return finish(t, params, STACK)


def _user_pool(t: Template, params: BuildParams) -> cognito.UserPool:
    """Shoppers sign in with their email; MFA optional, accounts kept when the stack goes."""
    return t.add_resource(
        cognito.UserPool(
            "UserPool",
            DeletionPolicy="Retain",  # shoppers' accounts outlive the stack
            UpdateReplacePolicy="Retain",
            UserPoolName=params.name(USER_POOL_SEED_NAME),
            UsernameAttributes=["email"],
            AutoVerifiedAttributes=["email"],
            MfaConfiguration="OPTIONAL",
            EnabledMfas=["SOFTWARE_TOKEN_MFA"],
            Policies=cognito.Policies(
                PasswordPolicy=cognito.PasswordPolicy(
                    MinimumLength=12,
                    RequireLowercase=True,
                    RequireUppercase=True,
                    RequireNumbers=True,
                    RequireSymbols=False,
                    TemporaryPasswordValidityDays=3,
                )
            ),
            AccountRecoverySetting=cognito.AccountRecoverySetting(
                RecoveryMechanisms=[cognito.RecoveryOption(Name="verified_email", Priority=1)]
            ),
            AdminCreateUserConfig=cognito.AdminCreateUserConfig(AllowAdminCreateUserOnly=False),
            DeletionProtection="ACTIVE",
            UserPoolTags=tag_map(params),
        )
    )


def _app_client(t: Template, params: BuildParams, pool: cognito.UserPool) -> cognito.UserPoolClient:
    """The web app's public client (no secret: it runs in browsers): SRP sign-in, code flow."""
    callback = string_parameter(
        t,
        "CallbackUrls",
        "http://localhost:3000/api/auth/callback",
        "OAuth callback URLs of the web app",
        cfn_type="CommaDelimitedList",
    )
    logout = string_parameter(
        t,
        "LogoutUrls",
        "http://localhost:3000/",
        "Sign-out URLs of the web app",
        cfn_type="CommaDelimitedList",
    )
    return t.add_resource(
        cognito.UserPoolClient(
            "UserPoolClient",
            UserPoolId=Ref(pool),
            ClientName=f"{params.name(USER_POOL_SEED_NAME)}-web",
            GenerateSecret=False,  # a browser/SSR public client cannot keep a secret
            ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            PreventUserExistenceErrors="ENABLED",
            AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthFlows=["code"],
            AllowedOAuthScopes=["openid", "email", "profile"],
            CallbackURLs=Ref(callback),
            LogoutURLs=Ref(logout),
            SupportedIdentityProviders=["COGNITO"],
            EnableTokenRevocation=True,
            AccessTokenValidity=60,
            IdTokenValidity=60,
            RefreshTokenValidity=30,
            TokenValidityUnits=cognito.TokenValidityUnits(
                AccessToken="minutes", IdToken="minutes", RefreshToken="days"
            ),
        )
    )


def _amplify_app(
    t: Template,
    params: BuildParams,
    pool: cognito.UserPool,
    client: cognito.UserPoolClient,
    ingest: Parameter,
) -> amplify.App:
    """The Amplify app building the shop from its repository (if given), and its branch."""
    repository = optional_parameter(
        t,
        "RepositoryUrl",
        "HasRepository",
        "Git repository of the Next.js app (https URL); empty = manual deployments",
        pattern=r"^$|^https://.+$",
    )
    branch = string_parameter(t, "BranchName", "main", "Branch Amplify builds")
    string_parameter(  # used by name inside the dynamic reference
        t,
        "RepositoryTokenSecretName",
        f"/clickstream/{params.env}/amplify/repo-token",
        "Secrets Manager secret whose 'token' key is the repository access token",
        pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$",
    )
    app = t.add_resource(
        amplify.App(
            "AmplifyApp",
            Name=params.name("SBW_Web"),
            Description="Next.js shop (SSR) with clickstream instrumentation",
            Platform="WEB_COMPUTE",
            Repository=If("HasRepository", Ref(repository), NoValue),
            AccessToken=If(
                "HasRepository",
                Sub("{{resolve:secretsmanager:${RepositoryTokenSecretName}:SecretString:token}}"),
                NoValue,
            ),
            EnvironmentVariables=[
                amplify.EnvironmentVariable(Name="NEXT_PUBLIC_COGNITO_USER_POOL_ID", Value=Ref(pool)),
                amplify.EnvironmentVariable(Name="NEXT_PUBLIC_COGNITO_CLIENT_ID", Value=Ref(client)),
                amplify.EnvironmentVariable(
                    Name="NEXT_PUBLIC_CLICKSTREAM_ENDPOINT", Value=import_from(ingest, "ApiEndpoint")
                ),
            ],
            Tags=standard_tags(params, STACK),
        )
    )
    t.add_resource(
        amplify.Branch(
            "AmplifyBranch",
            AppId=GetAtt(app, "AppId"),
            BranchName=Ref(branch),
            Stage="PRODUCTION",
            Framework="Next.js - SSR",
            EnableAutoBuild=True,
            Tags=standard_tags(params, STACK),
        )
    )
    return app
